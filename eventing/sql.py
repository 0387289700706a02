"""The backbone's tables, added to each service's own metadata (and Alembic migrations), and
the hot statements every service writes the same way, built once: `insert_or_skip` (`INSERT …
ON CONFLICT DO NOTHING`), `upsert_if_newer` (a versioned projection row) and `update_by_key`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    bindparam,
    func,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.elements import TextClause


def insert_or_skip(
    table: Table, columns: Sequence[str], *, conflict: str, returning: str | None = None
) -> TextClause:
    """`INSERT INTO table (columns) VALUES (:column, …) ON CONFLICT <conflict> DO NOTHING`,
    written out once, its parameters typed as the columns are (a dict for JSONB, a UUID).

    SQLAlchemy never caches the compiled form of its `insert().on_conflict_do_nothing()`
    construct, so each call built and compiled it anew; the hot paths (the inbox claim, an
    idempotency key, a payment, a saga) run this instead, executed with a dict of values.
    `conflict` is the target as PostgreSQL takes it: `(order_id)`, or `ON CONSTRAINT name`."""
    names = ", ".join(columns)
    values = ", ".join(f":{name}" for name in columns)
    statement = (
        f"INSERT INTO {table.name} ({names}) VALUES ({values}) ON CONFLICT {conflict} DO NOTHING"
    )
    if returning is not None:
        statement += f" RETURNING {returning}"
    return text(statement).bindparams(
        *(bindparam(name, type_=table.c[name].type) for name in columns)
    )


def upsert_if_newer(
    table: Table, columns: Sequence[str], *, key: str, returning: str | None = None
) -> TextClause:
    """`INSERT … ON CONFLICT (key) DO UPDATE SET …` that replaces the row only with a newer
    `version` (a projection fed by versioned events, which may come late or twice), written out
    once as `insert_or_skip` is; `columns` include `key` and `version`."""
    names = ", ".join(columns)
    values = ", ".join(f":{name}" for name in columns)
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name != key)
    statement = (
        f"INSERT INTO {table.name} ({names}) VALUES ({values}) ON CONFLICT ({key}) DO UPDATE "
        f"SET {updates} WHERE {table.name}.version < excluded.version"
    )
    if returning is not None:
        statement += f" RETURNING {returning}"
    return text(statement).bindparams(
        *(bindparam(name, type_=table.c[name].type) for name in columns)
    )


@dataclass(frozen=True)
class UpdateByKey:
    """`UPDATE table SET columns, updated_at = now() WHERE key columns match`, built once
    (`update_by_key`); `parameters` names a call's values as the statement does."""

    statement: Update
    columns: tuple[str, ...]

    def parameters(self, values: Mapping[str, Any], **key: Any) -> dict[str, Any]:
        """`values` holds every updated column (a missing one is a KeyError, not a column
        silently left as it was); `key`, the row's key columns."""
        return {
            **{f"new_{name}": values[name] for name in self.columns},
            **{f"where_{name}": value for name, value in key.items()},
        }


def update_by_key(table: Table, columns: Sequence[str], *, key: Sequence[str]) -> UpdateByKey:
    """An update of `columns` (and `updated_at`) of the row whose `key` columns are given,
    built once so SQLAlchemy reuses its compiled form. A key column may be updated too (a
    version: `WHERE version = :where_version`, `SET version = :new_version`)."""
    statement = (
        update(table)
        .where(
            *(table.c[name] == bindparam(f"where_{name}", type_=table.c[name].type) for name in key)
        )
        .values(
            {
                **{name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns},
                "updated_at": func.now(),
            }
        )
    )
    return UpdateByKey(statement, tuple(columns))


OUTBOX = "outbox"
INBOX = "inbox"
DEAD_LETTER_HOLDS = "dead_letter_holds"
HELD_MESSAGES = "held_messages"
DISCARDED_LETTERS = "discarded_letters"


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


@dataclass(frozen=True)
class HoldTables:
    """Where a consumer group keeps the keys its dead letters hold back (see eventing.held)."""

    holds: Table
    held_messages: Table
    discarded_letters: Table


def hold_tables(metadata: MetaData) -> HoldTables:
    """A consumer's dead-letter holds, the messages parked behind them, and discarded letters.

    - `dead_letter_holds`: one row per key a dead letter holds back, per consumer group and
      topic; `letter` names the dead letter's original position (`topic[partition]@offset`),
      `released_at` is set once the letter was applied after a redrive or discarded.
    - `held_messages`: later messages of a held key, parked in arrival order (`id`); unique by
      position, so a redelivery parks nothing twice.
    - `discarded_letters`: letters an operator discarded, so a redriven copy is skipped.
    """
    holds = Table(
        DEAD_LETTER_HOLDS,
        metadata,
        Column("consumer_group", Text, nullable=False),
        Column("topic", Text, nullable=False),
        Column("message_key", LargeBinary, nullable=False),
        Column("kafka_partition", Integer, nullable=False),
        Column("letter", Text, nullable=False),
        Column("reason", Text, nullable=False),
        Column("held_since", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("released_at", DateTime(timezone=True)),
        Column("release_reason", Text),
        PrimaryKeyConstraint("consumer_group", "topic", "message_key"),
    )
    held_messages = Table(
        HELD_MESSAGES,
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("consumer_group", Text, nullable=False),
        Column("topic", Text, nullable=False),
        Column("message_key", LargeBinary, nullable=False),
        Column("kafka_partition", Integer, nullable=False),
        Column("kafka_offset", BigInteger, nullable=False),
        Column("value", LargeBinary),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("held_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        UniqueConstraint(
            "consumer_group", "topic", "kafka_partition", "kafka_offset", name="held_messages_once"
        ),
        Index("held_messages_in_order", "consumer_group", "topic", "message_key", "id"),
    )
    discarded_letters = Table(
        DISCARDED_LETTERS,
        metadata,
        Column("consumer_group", Text, nullable=False),
        Column("letter", Text, nullable=False),
        Column("reason", Text, nullable=False),
        Column("discarded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer_group", "letter"),
    )
    return HoldTables(holds, held_messages, discarded_letters)
