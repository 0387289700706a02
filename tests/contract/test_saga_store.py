"""The saga store's contract, written once and run against both adapters: in memory (no
server) and PostgreSQL (a scratch database, marked integration). What the orchestrator relies
on: a saga reads back as written, one saga per type and key, a save checks the version it
loaded, an uncommitted unit of work leaves nothing, and deadlines count from the publish of the
awaited command, whose long absence from Kafka is reported once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from contracts import inventory, orders
from eventing.envelope import utc_now
from eventing.inbox import Inbox
from eventing.outbox import Outbox
from order_service import orm
from order_service.uow import SqlOrderUnitOfWork
from sagas.definitions import cancellation_saga, checkout_saga
from sagas.framework.engine import SagaEngine, SagaInstance, SagaState, StepStatus
from sagas.framework.fakes import CommandInOutbox, InMemorySagaTables, InMemorySagaUnitOfWork
from sagas.framework.ports import ConcurrentSagaUpdate, SagaUnitOfWork
from testkit.scratch import migrated_database

WINDOW = timedelta(seconds=10)
UNSENT_BOUND = timedelta(seconds=30)


@dataclass
class StoreUnderTest:
    """One adapter, and how a test arranges what the store reads of the outbox."""

    unit_of_work: Callable[[], SagaUnitOfWork]
    write_command: Callable[[uuid.UUID, datetime, datetime | None], None]
    """An outbox row for the command `event_id`, written then, published then (or not yet)."""


def in_memory() -> Iterator[StoreUnderTest]:
    tables = InMemorySagaTables()

    def write_command(event_id: uuid.UUID, written: datetime, published: datetime | None):
        tables.outbox[str(event_id)] = CommandInOutbox("ReserveStock", written, published)

    yield StoreUnderTest(lambda: InMemorySagaUnitOfWork(tables), write_command)


def postgresql() -> Iterator[StoreUnderTest]:
    with migrated_database("order_service", pool_size=2) as engine:
        sessions = sessionmaker(engine, expire_on_commit=False)
        outbox, inbox = Outbox(orm.outbox), Inbox(orm.inbox, "checkout-saga")

        def write_command(event_id: uuid.UUID, written: datetime, published: datetime | None):
            with engine.begin() as connection:
                connection.execute(
                    sa.insert(orm.outbox).values(
                        event_id=event_id,
                        topic="inventory.commands",
                        message_key="order",
                        lane=0,
                        event_type="ReserveStock",
                        envelope="{}",
                        created_at=written,
                        published_at=published,
                    )
                )

        yield StoreUnderTest(lambda: SqlOrderUnitOfWork(sessions, outbox, inbox), write_command)


@pytest.fixture(
    params=["in_memory", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def store(request) -> Iterator[StoreUnderTest]:
    yield from {"in_memory": in_memory, "postgresql": postgresql}[request.param]()


@pytest.fixture
def now() -> datetime:
    return utc_now()


def new_saga(key: str, at: datetime, *, command_id: uuid.UUID | None = None) -> SagaInstance:
    """A checkout saga started at `at`, awaiting its reservation (`command_id`, if given)."""
    engine = SagaEngine(checkout_saga(reply_timeout_s=WINDOW.total_seconds()))
    created = orders.OrderCreated(
        order_id=key,
        customer_id="c1",
        payment_method="tok_visa",
        total_cents=100,
        items=[{"sku": "SKU-1", "quantity": 1, "unit_price_cents": 100}],
    )
    saga, _ = engine.start(str(uuid.uuid4()), created, at)
    saga.awaited_command_id = None if command_id is None else str(command_id)
    return saga


def added(store: StoreUnderTest, *sagas: SagaInstance) -> None:
    with store.unit_of_work() as uow:
        for saga in sagas:
            assert uow.sagas.add(saga)
        uow.commit()


def read(store: StoreUnderTest, saga_id: str) -> SagaInstance | None:
    with store.unit_of_work() as uow:
        return uow.sagas.get(saga_id)


def awaiting(
    store: StoreUnderTest,
    key: str,
    written: datetime,
    *,
    published: datetime | None = None,
    outbox_row: bool = True,
    awaits: bool = True,
) -> str:
    """A saga awaiting its reservation since `written`, and (unless told otherwise) the outbox
    row of that command, published at `published` or not yet."""
    command_id = uuid.uuid4()
    saga = new_saga(key, written, command_id=command_id if awaits else None)
    added(store, saga)
    if outbox_row:
        store.write_command(command_id, written, published)
    return saga.saga_id


def due(store: StoreUnderTest, now: datetime) -> dict[str, timedelta]:
    with store.unit_of_work() as uow:
        return {saga.saga_id: saga.sent_after for saga in uow.sagas.due(now)}


def unsent(store: StoreUnderTest, now: datetime) -> list[tuple[str, str | None, str]]:
    with store.unit_of_work() as uow:
        reported = uow.sagas.unsent_unreported(now, UNSENT_BOUND)
        uow.commit()
    return [(r.key, r.step, r.command_type) for r in reported]


def test_an_added_saga_reads_back_as_it_was_written_at_version_one(store, now):
    saga = new_saga("order-1", now, command_id=uuid.uuid4())
    added(store, saga)

    assert saga.version == 1 and saga.new_entries == 0
    assert read(store, saga.saga_id) == saga
    with store.unit_of_work() as uow:
        assert uow.sagas.find("checkout", "order-1") == saga


def test_a_second_saga_of_one_type_and_key_is_not_added(store, now):
    first = new_saga("order-1", now)
    added(store, first)
    with store.unit_of_work() as uow:
        assert not uow.sagas.add(new_saga("order-1", now))
        uow.commit()

    with store.unit_of_work() as uow:
        assert uow.sagas.find("checkout", "order-1") == first


def test_an_unknown_saga_is_none(store):
    with store.unit_of_work() as uow:
        assert uow.sagas.get(str(uuid.uuid4())) is None
        assert uow.sagas.find("checkout", "no-such-order") is None


def test_the_newest_saga_of_each_key_is_the_one_started_last_whatever_its_type(store, now):
    checkout, other = new_saga("order-1", now), new_saga("order-2", now)
    added(store, checkout, other)
    cancellation, _ = SagaEngine(cancellation_saga()).start(
        str(uuid.uuid4()), orders.OrderCancellationRequested(order_id="order-1"), now
    )
    added(store, cancellation)

    with store.unit_of_work() as uow:
        newest = uow.sagas.newest(["order-1", "order-2", "order-3"])
        assert uow.sagas.newest([]) == {}
    assert newest == {"order-1": cancellation, "order-2": other}


def test_a_save_stores_the_new_state_and_log_entries_and_grows_the_version(store, now):
    saga = new_saga("order-1", now)
    added(store, saga)
    engine = SagaEngine(checkout_saga())
    with store.unit_of_work() as uow:
        loaded = uow.sagas.get(saga.saga_id, lock=True)
        assert loaded is not None
        engine.on_reply(
            loaded, inventory.StockReserved(order_id="order-1", items=[]), now + WINDOW / 2
        )
        uow.sagas.save(loaded)
        uow.commit()

    stored = read(store, saga.saga_id)
    assert stored == loaded
    assert stored is not None and stored.version == 2
    assert [(e.step, e.status) for e in stored.log] == [
        ("reserve_stock", StepStatus.STARTED),
        ("reserve_stock", StepStatus.SUCCEEDED),
        ("authorize_payment", StepStatus.STARTED),
    ]


def test_a_save_of_a_saga_changed_since_it_was_loaded_fails(store, now):
    saga = new_saga("order-1", now)
    added(store, saga)
    stale = read(store, saga.saga_id)
    with store.unit_of_work() as uow:
        mine = uow.sagas.get(saga.saga_id)
        assert mine is not None
        mine.failure_reason = "mine"
        uow.sagas.save(mine)
        uow.commit()

    assert stale is not None
    stale.failure_reason = "theirs"
    with store.unit_of_work() as uow, pytest.raises(ConcurrentSagaUpdate):
        uow.sagas.save(stale)
    stored = read(store, saga.saga_id)
    assert stored is not None and (stored.failure_reason, stored.version) == ("mine", 2)


def test_what_a_unit_of_work_left_uncommitted_leaves_no_trace(store, now):
    saga = new_saga("order-1", now)
    with store.unit_of_work() as uow:
        assert uow.sagas.add(saga)

    assert read(store, saga.saga_id) is None
    with store.unit_of_work() as uow:
        assert uow.sagas.add(new_saga("order-1", now)), "the key is free again"


def test_progress_versions_only_grow(store):
    with store.unit_of_work() as uow:
        first = uow.sagas.next_progress_version()
    with store.unit_of_work() as uow:
        second = uow.sagas.next_progress_version()
        third = uow.sagas.next_progress_version()
        uow.commit()

    assert first < second < third


def test_sagas_are_counted_by_state(store, now):
    running, ended = new_saga("order-1", now), new_saga("order-2", now)
    ended.state = SagaState.ABORTED
    added(store, running, ended)

    with store.unit_of_work() as uow:
        assert uow.sagas.count_by_state() == {"RUNNING": 1, "ABORTED": 1}


def test_a_deadline_counts_from_the_publish_of_the_awaited_command(store, now):
    written = now - timedelta(minutes=1)
    sent_at_once = awaiting(store, "at-once", written, published=written + timedelta(seconds=1))
    late_window_over = awaiting(
        store, "late-over", written, published=written + timedelta(seconds=45)
    )
    awaiting(store, "late-running", written, published=now - timedelta(seconds=5))
    awaiting(store, "unpublished", written, published=None)

    assert due(store, now) == {
        sent_at_once: timedelta(seconds=1),
        late_window_over: timedelta(seconds=45),
    }, "the one published 5 s ago has 5 s left, the unpublished one waits"


def test_without_a_known_command_or_its_row_the_deadline_stays_as_written(store, now):
    written = now - timedelta(minutes=1)
    pruned = awaiting(store, "pruned", written, outbox_row=False)
    pausing = awaiting(store, "pausing", written, awaits=False)

    assert due(store, now) == {pruned: timedelta(0), pausing: timedelta(0)}


def test_due_sagas_come_earliest_deadline_first_and_an_ended_one_never(store, now):
    later = awaiting(store, "later", now - timedelta(minutes=1), outbox_row=False)
    earlier = awaiting(store, "earlier", now - timedelta(minutes=2), outbox_row=False)
    ended = new_saga("ended", now - timedelta(minutes=3))
    ended.state = SagaState.ABORTED
    added(store, ended)

    with store.unit_of_work() as uow:
        assert [saga.saga_id for saga in uow.sagas.due(now)] == [earlier, later]
        assert [saga.saga_id for saga in uow.sagas.due(now, limit=1)] == [earlier]


def test_a_command_unpublished_past_the_bound_is_reported_once(store, now):
    awaiting(store, "stuck", now - timedelta(minutes=1))
    awaiting(store, "recent", now - timedelta(seconds=15))
    awaiting(store, "sent", now - timedelta(minutes=1), published=now)

    assert unsent(store, now) == [("stuck", "reserve_stock", "ReserveStock")]
    assert unsent(store, now) == [], "reported once"
    later = now + timedelta(minutes=5)
    assert unsent(store, later) == [("recent", "reserve_stock", "ReserveStock")]
