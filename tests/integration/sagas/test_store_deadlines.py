"""Which sagas the store finds due, on the real PostgreSQL: a deadline counts from when the
relay published the awaited command (the outbox row's `published_at`), a command still in the
outbox is never due, and a saga naming no command, or one whose outbox row was pruned, keeps
the deadline as written. Sagas written a minute ago, with a 10 s window, so all their stored
deadlines have passed."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts import orders
from eventing.envelope import utc_now
from sagas import orm
from sagas.definitions import checkout_saga
from sagas.framework.engine import SagaEngine
from sagas.framework.store import SagaStore
from servicekit.migrations import upgrade

pytestmark = pytest.mark.integration

WINDOW = timedelta(seconds=10)
UNSENT_BOUND = timedelta(seconds=30)


@pytest.fixture
def store(scratch_engine) -> SagaStore:
    upgrade(Path("sagas/migrations"), scratch_engine.url.render_as_string(hide_password=False))
    return SagaStore(orm.saga_instances, orm.saga_log, orm.saga_progress_seq, outbox=orm.outbox)


@pytest.fixture
def now() -> datetime:
    return utc_now()


def add_saga(
    engine: sa.Engine,
    store: SagaStore,
    key: str,
    written: datetime,
    *,
    published: datetime | None = None,
    outbox_row: bool = True,
    awaits: bool = True,
) -> str:
    """A checkout saga awaiting its reservation since `written`, and (unless told otherwise)
    the outbox row of that command, published at `published` or not yet."""
    saga_engine = SagaEngine(checkout_saga(reply_timeout_s=WINDOW.total_seconds()))
    created = orders.OrderCreated(
        order_id=key,
        customer_id="c1",
        payment_method="tok_visa",
        total_cents=100,
        items=[{"sku": "SKU-1", "quantity": 1, "unit_price_cents": 100}],
    )
    saga, _ = saga_engine.start(str(uuid.uuid4()), created, written)
    command_id = uuid.uuid4()
    saga.awaited_command_id = str(command_id) if awaits else None
    with Session(engine) as session, session.begin():
        assert store.add(session, saga)
        if outbox_row:
            session.execute(
                sa.insert(orm.outbox).values(
                    event_id=command_id,
                    topic="inventory.commands",
                    message_key=key,
                    lane=0,
                    event_type="ReserveStock",
                    envelope="{}",
                    created_at=written,
                    published_at=published,
                )
            )
    return saga.saga_id


def due(engine: sa.Engine, store: SagaStore, now: datetime) -> dict[str, timedelta]:
    with Session(engine) as session, session.begin():
        return {saga.saga_id: saga.sent_after for saga in store.due(session, now)}


def test_a_deadline_counts_from_the_publish_of_the_awaited_command(scratch_engine, store, now):
    written = now - timedelta(minutes=1)
    sent_at_once = add_saga(
        scratch_engine, store, "at-once", written, published=written + timedelta(seconds=1)
    )
    late_window_over = add_saga(
        scratch_engine, store, "late-over", written, published=written + timedelta(seconds=45)
    )
    add_saga(scratch_engine, store, "late-running", written, published=now - timedelta(seconds=5))
    add_saga(scratch_engine, store, "unpublished", written, published=None)

    assert due(scratch_engine, store, now) == {
        sent_at_once: timedelta(seconds=1),
        late_window_over: timedelta(seconds=45),
    }, "the one published 5 s ago has 5 s left, the unpublished one waits"


def test_without_a_known_command_or_its_row_the_deadline_stays_as_written(
    scratch_engine, store, now
):
    written = now - timedelta(minutes=1)
    pruned = add_saga(scratch_engine, store, "pruned", written, outbox_row=False)
    from_before = add_saga(scratch_engine, store, "before-0004", written, awaits=False)

    assert due(scratch_engine, store, now) == {pruned: timedelta(0), from_before: timedelta(0)}


def unsent(engine: sa.Engine, store: SagaStore, now: datetime) -> list[tuple[str, str, str]]:
    with Session(engine) as session, session.begin():
        reported = store.unsent_unreported(session, now, UNSENT_BOUND)
    return [(r.key, str(r.step), r.command_type) for r in reported]


def test_a_command_unpublished_past_the_bound_is_reported_once(scratch_engine, store, now):
    add_saga(scratch_engine, store, "stuck", now - timedelta(minutes=1))
    add_saga(scratch_engine, store, "recent", now - timedelta(seconds=15))
    add_saga(scratch_engine, store, "sent", now - timedelta(minutes=1), published=now)

    assert unsent(scratch_engine, store, now) == [("stuck", "reserve_stock", "ReserveStock")]
    assert unsent(scratch_engine, store, now) == [], "reported once"
    later = now + timedelta(minutes=5)
    assert unsent(scratch_engine, store, later) == [("recent", "reserve_stock", "ReserveStock")]
