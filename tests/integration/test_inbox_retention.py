"""Inbox pruning on the real PostgreSQL: rows past their event type's retention go, every other
row stays, and an event whose row stays is still applied only once."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import MetaData, insert, select

from eventing.inbox import Inbox, InboxPruner
from eventing.sql import inbox_table

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RETENTION = {"OrderCreated": timedelta(days=59), "PaymentAuthorized": timedelta(days=10)}


@pytest.fixture
def inbox(scratch_engine):
    metadata = MetaData()
    table = inbox_table(metadata)
    metadata.create_all(scratch_engine)
    return scratch_engine, table


def add_row(engine, table, event_type: str, age: timedelta) -> uuid.UUID:
    event_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            insert(table).values(
                consumer="order-service",
                event_id=event_id,
                event_type=event_type,
                processed_at=NOW - age,
            )
        )
    return event_id


def remaining(engine, table) -> set[uuid.UUID]:
    with engine.connect() as connection:
        return set(connection.execute(select(table.c.event_id)).scalars())


def test_rows_past_their_types_retention_are_deleted_and_the_rest_kept(inbox):
    engine, table = inbox
    old_order = add_row(engine, table, "OrderCreated", timedelta(days=60))
    young_order = add_row(engine, table, "OrderCreated", timedelta(days=58))
    old_payment = add_row(engine, table, "PaymentAuthorized", timedelta(days=11))
    young_payment = add_row(engine, table, "PaymentAuthorized", timedelta(days=9))
    ancient_product = add_row(engine, table, "ProductCreated", timedelta(days=3650))

    assert InboxPruner(engine, table, RETENTION).prune(now=NOW) == 2

    assert remaining(engine, table) == {young_order, young_payment, ancient_product}
    assert old_order not in remaining(engine, table) and old_payment not in remaining(engine, table)


def test_an_event_whose_row_is_kept_still_has_one_effect(inbox):
    engine, table = inbox
    kept = add_row(engine, table, "OrderCreated", timedelta(days=58))
    InboxPruner(engine, table, RETENTION).prune(now=NOW)
    with engine.begin() as connection:
        assert Inbox(table, "order-service").claim(connection, kept, "OrderCreated") is False


def test_pruning_twice_deletes_nothing_more(inbox):
    engine, table = inbox
    add_row(engine, table, "OrderCreated", timedelta(days=60))
    pruner = InboxPruner(engine, table, RETENTION)
    assert pruner.prune(now=NOW) == 1
    assert pruner.prune(now=NOW) == 0


def test_the_running_pruner_prunes_at_once_and_stops_when_told(inbox):
    engine, table = inbox
    add_row(engine, table, "OrderCreated", timedelta(days=3650))
    young = add_row(engine, table, "OrderCreated", timedelta(0))
    stop = threading.Event()
    runner = threading.Thread(
        target=InboxPruner(engine, table, RETENTION).run, args=(stop, 3600.0), daemon=True
    )
    runner.start()
    try:
        deadline = time.monotonic() + 120  # a loaded machine
        while remaining(engine, table) != {young}:
            assert time.monotonic() < deadline, "the pruner did not prune"
            stop.wait(0.1)
    finally:
        stop.set()
        runner.join(timeout=60)
    assert not runner.is_alive()
