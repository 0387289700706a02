"""The backbone's tables, added to each service's own metadata (and Alembic migrations)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

OUTBOX = "outbox"
INBOX = "inbox"


def outbox_table(metadata: MetaData) -> Table:
    """Events written in the same transaction as the state change they describe.

    `id` orders rows globally; `lane` (a hash of the key) lets several relays share the work
    while one relay at a time publishes a lane, so each aggregate's events keep their order.

    A row the broker can never take is parked (`parked_at`, `park_reason`) instead of
    published; while it is parked and not discarded, later rows of its topic and key are held
    back. `shopctl outbox retry` makes it pending again, `shopctl outbox discard` gives it up
    (`discarded_at`, `discard_reason`) and releases the rows behind it.
    """
    return Table(
        OUTBOX,
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("message_key", Text, nullable=False),
        Column("lane", SmallInteger, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("envelope", Text, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("parked_at", DateTime(timezone=True)),
        Column("park_reason", Text),
        Column("discarded_at", DateTime(timezone=True)),
        Column("discard_reason", Text),
        Index(
            "outbox_pending_by_lane",
            "lane",
            "id",
            postgresql_where=text("published_at IS NULL"),
        ),
        Index(
            "outbox_parked_by_key",
            "topic",
            "message_key",
            "id",
            postgresql_where=text("parked_at IS NOT NULL AND discarded_at IS NULL"),
        ),
    )


def inbox_table(metadata: MetaData) -> Table:
    """Which events each consumer has applied: the record that makes a redelivery harmless."""
    return Table(
        INBOX,
        metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", Uuid, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
    )
