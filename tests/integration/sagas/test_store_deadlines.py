"""Which sagas the store finds due, on the real PostgreSQL: a deadline counts from when the
relay published the awaited command (the outbox row's `published_at`), a command still in the
outbox is never due, and a saga naming no command, or one whose outbox row was pruned, keeps
the deadline as written. Sagas written a minute ago, with a 10 s window, so all their stored
deadlines have passed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from contracts import orders
from eventing.envelope import utc_now
from eventing.inbox import Inbox
from eventing.outbox import Outbox
from sagas import orm
from sagas.definitions import checkout_saga
from sagas.deployable import unit_of_work
from sagas.framework.engine import SagaEngine
from sagas.framework.store import SqlSagaUnitOfWork
from servicekit.migrations import upgrade

pytestmark = pytest.mark.integration

WINDOW = timedelta(seconds=10)
UNSENT_BOUND = timedelta(seconds=30)


Store = Callable[[], SqlSagaUnitOfWork]
"""A new unit of work of the orchestrator's, on the scratch database."""


@pytest.fixture
def store(scratch_engine) -> Store:
    upgrade(Path("sagas/migrations"), scratch_engine.url.render_as_string(hide_password=False))
    sessions = sessionmaker(scratch_engine, expire_on_commit=False)
    return lambda: unit_of_work(sessions, Outbox(orm.outbox), Inbox(orm.inbox, "checkout-saga"))


@pytest.fixture
def now() -> datetime:
    return utc_now()


def add_saga(
    engine: sa.Engine,
    store: Store,
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
    with store() as uow:
        assert uow.sagas.add(saga)
        if outbox_row:
            uow.session.execute(
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
        uow.commit()
    return saga.saga_id


def due(engine: sa.Engine, store: Store, now: datetime) -> dict[str, timedelta]:
    with store() as uow:
        return {saga.saga_id: saga.sent_after for saga in uow.sagas.due(now)}


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


def unsent(engine: sa.Engine, store: Store, now: datetime) -> list[tuple[str, str, str]]:
    with store() as uow:
        reported = uow.sagas.unsent_unreported(now, UNSENT_BOUND)
        uow.commit()
    return [(r.key, str(r.step), r.command_type) for r in reported]


def test_a_command_unpublished_past_the_bound_is_reported_once(scratch_engine, store, now):
    add_saga(scratch_engine, store, "stuck", now - timedelta(minutes=1))
    add_saga(scratch_engine, store, "recent", now - timedelta(seconds=15))
    add_saga(scratch_engine, store, "sent", now - timedelta(minutes=1), published=now)

    assert unsent(scratch_engine, store, now) == [("stuck", "reserve_stock", "ReserveStock")]
    assert unsent(scratch_engine, store, now) == [], "reported once"
    later = now + timedelta(minutes=5)
    assert unsent(scratch_engine, store, later) == [("recent", "reserve_stock", "ReserveStock")]
