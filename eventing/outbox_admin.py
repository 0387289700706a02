"""Operating an outbox: the rows its relays parked, and an operator's retry or discard of one.

A parked row is one the broker could never take (see `eventing.outbox.OutboxRelay`). It stays in
the table with its reason, and the later rows of its topic and key wait behind it. Retrying makes
it pending again (after a fix: a larger topic limit, a repaired row), and the relays publish it
and then the rows behind it, in order; discarding gives it up, with a reason kept on the row, and
releases the rows behind it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, Table, Text, and_, cast, func, select, update
from sqlalchemy.engine import Connection

from eventing.db_errors import translate_db_errors
from eventing.errors import EventingError


class NotParked(EventingError):
    """The row named is not a parked row awaiting a decision."""


@dataclass(frozen=True)
class ParkedRow:
    id: int
    event_id: uuid.UUID
    event_type: str
    topic: str
    """Logical, as the row names it (published under the relay's namespace)."""
    message_key: str
    size_bytes: int
    created_at: datetime
    parked_at: datetime
    reason: str
    held_behind: int
    """Later rows of the same topic and key, waiting for this one to be retried or discarded."""


def parked_rows(engine: Engine, table: Table, *, limit: int = 100) -> list[ParkedRow]:
    """Parked rows awaiting a decision, oldest first, with how many rows wait behind each."""
    behind = table.alias("behind")
    held_behind = (
        select(func.count())
        .where(
            behind.c.topic == table.c.topic,
            behind.c.message_key == table.c.message_key,
            behind.c.id > table.c.id,
            behind.c.published_at.is_(None),
            behind.c.parked_at.is_(None),
        )
        .correlate(table)
        .scalar_subquery()
    )
    query = (
        select(
            table.c.id,
            table.c.event_id,
            table.c.event_type,
            table.c.topic,
            table.c.message_key,
            (
                func.octet_length(table.c.envelope)
                + func.octet_length(table.c.message_key)
                + func.octet_length(cast(table.c.headers, Text))
            ).label("size_bytes"),
            table.c.created_at,
            table.c.parked_at,
            table.c.park_reason,
            held_behind.label("held_behind"),
        )
        .where(_awaiting_decision(table))
        .order_by(table.c.id)
        .limit(limit)
    )
    with translate_db_errors(), engine.connect() as connection:
        return [
            ParkedRow(
                row.id,
                row.event_id,
                row.event_type,
                row.topic,
                row.message_key,
                row.size_bytes,
                row.created_at,
                row.parked_at,
                row.park_reason or "",
                row.held_behind,
            )
            for row in connection.execute(query)
        ]


def backlog(engine: Engine, table: Table) -> tuple[int, datetime | None]:
    """How many rows wait to be published (held ones included, parked ones not), and when the
    oldest of them was written."""
    query = select(func.count(), func.min(table.c.created_at)).where(
        table.c.published_at.is_(None), table.c.parked_at.is_(None)
    )
    with translate_db_errors(), engine.connect() as connection:
        count, oldest = connection.execute(query).one()
    return count, oldest


def parked_counts(engine: Engine, table: Table) -> dict[str, int]:
    """Parked rows awaiting a decision, per topic."""
    query = (
        select(table.c.topic, func.count())
        .where(_awaiting_decision(table))
        .group_by(table.c.topic)
        .order_by(table.c.topic)
    )
    with translate_db_errors(), engine.connect() as connection:
        return {topic: count for topic, count in connection.execute(query)}


def find_parked(engine: Engine, table: Table, event_id: uuid.UUID) -> bool:
    """Whether this outbox holds a parked row (awaiting a decision) for the event."""
    with translate_db_errors(), engine.connect() as connection:
        return (
            connection.execute(
                select(table.c.id).where(table.c.event_id == event_id, _awaiting_decision(table))
            ).first()
            is not None
        )


def retry_parked(engine: Engine, table: Table, event_id: uuid.UUID, channel: str) -> int:
    """Make the parked row pending again and wake the relays; returns how many rows it
    releases (itself and those held behind it) if it is published this time."""
    with translate_db_errors(), engine.begin() as connection:
        row = _claim_parked(connection, table, event_id)
        connection.execute(
            update(table).where(table.c.id == row.id).values(parked_at=None, park_reason=None)
        )
        connection.execute(select(func.pg_notify(channel, "")))
        return 1 + _held_behind(connection, table, row)


def discard_parked(
    engine: Engine, table: Table, event_id: uuid.UUID, reason: str, channel: str
) -> int:
    """Give the parked row up, keeping it with the operator's reason, and wake the relays;
    returns how many rows were held behind it and now flow."""
    if not reason.strip():
        raise NotParked("a discard needs a reason")
    with translate_db_errors(), engine.begin() as connection:
        row = _claim_parked(connection, table, event_id)
        connection.execute(
            update(table)
            .where(table.c.id == row.id)
            .values(discarded_at=func.now(), discard_reason=reason.strip())
        )
        connection.execute(select(func.pg_notify(channel, "")))
        return _held_behind(connection, table, row)


def _awaiting_decision(table: Table):
    return and_(table.c.parked_at.is_not(None), table.c.discarded_at.is_(None))


def _claim_parked(connection: Connection, table: Table, event_id: uuid.UUID):
    """The parked row of the event, locked against a concurrent retry or discard."""
    row = connection.execute(
        select(table.c.id, table.c.topic, table.c.message_key, table.c.discarded_at)
        .where(table.c.event_id == event_id, table.c.parked_at.is_not(None))
        .with_for_update()
    ).first()
    if row is None:
        raise NotParked(f"no parked outbox row for event {event_id}")
    if row.discarded_at is not None:
        raise NotParked(f"the outbox row for event {event_id} was discarded already")
    return row


def _held_behind(connection: Connection, table: Table, row) -> int:
    return connection.execute(
        select(func.count()).where(
            table.c.topic == row.topic,
            table.c.message_key == row.message_key,
            table.c.id > row.id,
            table.c.published_at.is_(None),
            table.c.parked_at.is_(None),
        )
    ).scalar_one()


def parse_event_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotParked(f"{text!r} is not an event id (a UUID)") from None
