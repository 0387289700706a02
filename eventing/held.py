"""A dead letter holds back its key: per-aggregate order survives a poisoned message.

When a consumer dead-letters a message, the later messages of the same key (the aggregate) on
the same topic must not be applied before it. So the consumer group records a *hold* on the
key, and parks every later message of that key beside it, in arrival order, in the group's own
database (the service's, next to its inbox) while the partition keeps flowing for other keys.

The hold ends when its letter is settled:
- redriven (`shopctl dlq redrive`) and applied: the copy carries the letter's name in its
  `dlq.letter` header, so the consumer recognises it, applies it, then releases what is held;
- discarded (`shopctl dlq discard`): the operator marks the hold released and the letter
  discarded (a later redriven copy of it is skipped); the consumer owning the partition sees
  the release within a second and releases what is held.

Releasing runs each held message, in order, through the consumer's normal handler (its inbox
keeps that at one effect each); a held message that fails for good becomes the key's new
letter, and what is behind it stays held. Keys are per consumer group and topic: Kafka orders
a key's messages within its topic only. Messages without a key have no order to keep and are
never held.

Only the consumer owning a partition adds or ends the holds of its keys, so it keeps them in
memory (read when the partition is assigned) and asks the database nothing for a message whose
key is not held.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Engine, and_, delete, exists, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from eventing import dead_letter_headers as dlq
from eventing.db_errors import translate_db_errors
from eventing.sql import HoldTables

LETTER_HEADER = dlq.LETTER
"""Set on a redriven copy: the name of the dead letter it is a copy of."""


def letter_name(topic: str, partition: int, offset: int) -> str:
    """A dead letter's name: the position it was taken from, `topic[partition]@offset`."""
    return f"{topic}[{partition}]@{offset}"


@dataclass(frozen=True)
class Hold:
    """A key held back behind a dead letter, in one consumer group."""

    topic: str
    partition: int
    key: bytes
    letter: str
    reason: str
    released: bool = False
    release_reason: str | None = None
    held_since: datetime | None = None


class Verdict(enum.Enum):
    APPLY = "apply"
    """Nothing holds the key: handle the message as usual."""
    APPLY_LETTER = "apply-letter"
    """The message is the letter holding its key (a redriven copy, or the original
    redelivered): handle it, and release the key once it is applied."""
    PARK = "park"
    """The key is held: park the message behind the letter."""
    SKIP_DISCARDED = "skip-discarded"
    """A redriven copy of a letter an operator discarded: never apply it."""


def verdict(
    hold: Hold | None, *, position: str, redriven_letter: str | None, discarded: bool
) -> Verdict:
    """What a consumer does with a message, given its key's hold (None: not held).

    `position` is the message's own letter name, `redriven_letter` its `dlq.letter` header,
    `discarded` whether that letter was discarded. A held key whose letter was already released
    parks even the letter's copy: what is held goes first, in order.
    """
    if redriven_letter is not None and discarded:
        return Verdict.SKIP_DISCARDED
    if hold is None:
        return Verdict.APPLY
    if not hold.released and hold.letter in (position, redriven_letter):
        return Verdict.APPLY_LETTER
    return Verdict.PARK


def can_hold(key: bytes | None) -> bool:
    """Messages without a key belong to no aggregate: there is no order of theirs to keep."""
    return bool(key)


@dataclass(frozen=True)
class HeldMessage:
    """A message parked behind its key's dead letter, with everything needed to apply it."""

    id: int
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes | None
    headers: Mapping[str, str]


@dataclass(frozen=True)
class HoldSummary:
    """What an operator sees of a hold: its letter and what waits behind it."""

    topic: str
    key: bytes
    letter: str
    reason: str
    held_since: datetime
    released: bool
    release_reason: str | None
    held: int
    oldest_held_at: datetime | None


class HoldStore:
    """One consumer group's holds in its database. Database failures that may pass are raised
    as TransientError, so the consumer retries instead of dead-lettering."""

    def __init__(self, engine: Engine, tables: HoldTables, group: str):
        self.engine = engine
        self.tables = tables
        self.group = group

    # The consumer's side.

    def holds_on(self, partitions: Iterable[tuple[str, int]]) -> list[Hold]:
        """Every hold on keys of these (topic, partition)s."""
        wanted = list(partitions)
        if not wanted:
            return []
        holds = self.tables.holds
        query = select(holds).where(
            holds.c.consumer_group == self.group,
            tuple_(holds.c.topic, holds.c.kafka_partition).in_(wanted),
        )
        with translate_db_errors(), self.engine.connect() as connection:
            return [_hold(row) for row in connection.execute(query)]

    def released_among(self, holds: Sequence[Hold]) -> list[Hold]:
        """Those of `holds` that were released meanwhile (by an operator's discard)."""
        if not holds:
            return []
        table = self.tables.holds
        query = select(table).where(
            table.c.consumer_group == self.group,
            table.c.released_at.is_not(None),
            tuple_(table.c.topic, table.c.message_key).in_([(h.topic, h.key) for h in holds]),
        )
        with translate_db_errors(), self.engine.connect() as connection:
            return [_hold(row) for row in connection.execute(query)]

    def hold(self, hold: Hold) -> None:
        """Hold the key behind `hold.letter`; a key already held moves to the new letter (a held
        message that failed for good while being released), unreleased again."""
        table = self.tables.holds
        values = {
            "consumer_group": self.group,
            "topic": hold.topic,
            "message_key": hold.key,
            "kafka_partition": hold.partition,
            "letter": hold.letter,
            "reason": hold.reason[:2000],
        }
        statement = pg_insert(table).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["consumer_group", "topic", "message_key"],
            set_={
                "letter": statement.excluded.letter,
                "reason": statement.excluded.reason,
                "released_at": None,
                "release_reason": None,
            },
        )
        with translate_db_errors(), self.engine.begin() as connection:
            connection.execute(statement)

    def park(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes,
        value: bytes | None,
        headers: Mapping[str, str],
    ) -> None:
        """Park a message behind its key's letter; parking a redelivery again is a no-op."""
        statement = (
            pg_insert(self.tables.held_messages)
            .values(
                consumer_group=self.group,
                topic=topic,
                message_key=key,
                kafka_partition=partition,
                kafka_offset=offset,
                value=value,
                headers=dict(headers),
            )
            .on_conflict_do_nothing(constraint="held_messages_once")
        )
        with translate_db_errors(), self.engine.begin() as connection:
            connection.execute(statement)

    def held_behind(self, hold: Hold, limit: int) -> list[HeldMessage]:
        """The first `limit` messages held behind `hold`, oldest first."""
        held = self.tables.held_messages
        query = (
            select(held)
            .where(
                held.c.consumer_group == self.group,
                held.c.topic == hold.topic,
                held.c.message_key == hold.key,
            )
            .order_by(held.c.id)
            .limit(limit)
        )
        with translate_db_errors(), self.engine.connect() as connection:
            return [
                HeldMessage(
                    row.id,
                    row.topic,
                    row.kafka_partition,
                    row.kafka_offset,
                    row.message_key,
                    row.value,
                    row.headers,
                )
                for row in connection.execute(query)
            ]

    def forget_held(self, message: HeldMessage) -> None:
        """A held message was applied (or dead-lettered): it no longer waits."""
        held = self.tables.held_messages
        with translate_db_errors(), self.engine.begin() as connection:
            connection.execute(delete(held).where(held.c.id == message.id))

    def move_to_letter(self, hold: Hold, held: HeldMessage) -> None:
        """A held message was dead-lettered: the key is now held behind it (`hold.letter`),
        unreleased, and it no longer waits among the held."""
        table = self.tables.holds
        with translate_db_errors(), self.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(*self._is(hold))
                .values(
                    letter=hold.letter,
                    reason=hold.reason[:2000],
                    released_at=None,
                    release_reason=None,
                )
            )
            connection.execute(
                delete(self.tables.held_messages).where(self.tables.held_messages.c.id == held.id)
            )

    def release(self, hold: Hold, reason: str) -> Hold:
        """The letter was applied: release what it holds (if it still holds the key)."""
        table = self.tables.holds
        with translate_db_errors(), self.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(*self._is(hold), table.c.letter == hold.letter)
                .values(released_at=func.now(), release_reason=reason)
            )
        return replace(hold, released=True, release_reason=reason)

    def end_if_empty(self, hold: Hold) -> bool:
        """End a released hold once nothing waits behind it; True if it ended."""
        table, held = self.tables.holds, self.tables.held_messages
        waiting = exists().where(
            held.c.consumer_group == table.c.consumer_group,
            held.c.topic == table.c.topic,
            held.c.message_key == table.c.message_key,
        )
        with translate_db_errors(), self.engine.begin() as connection:
            result = connection.execute(
                delete(table).where(*self._is(hold), table.c.released_at.is_not(None), ~waiting)
            )
        return result.rowcount == 1

    def is_discarded(self, letter: str) -> bool:
        table = self.tables.discarded_letters
        query = select(table.c.letter).where(
            table.c.consumer_group == self.group, table.c.letter == letter
        )
        with translate_db_errors(), self.engine.connect() as connection:
            return connection.execute(query).first() is not None

    # The operator's side (`shopctl dlq`).

    def summaries(self, topic: str | None = None) -> list[HoldSummary]:
        """Every hold of the group (on `topic`, if given) with its held count and oldest."""
        table, held = self.tables.holds, self.tables.held_messages
        counted = (
            select(
                held.c.topic,
                held.c.message_key,
                func.count().label("held"),
                func.min(held.c.held_at).label("oldest"),
            )
            .where(held.c.consumer_group == self.group)
            .group_by(held.c.topic, held.c.message_key)
            .subquery()
        )
        query = (
            select(table, counted.c.held, counted.c.oldest)
            .outerjoin(
                counted,
                and_(
                    counted.c.topic == table.c.topic,
                    counted.c.message_key == table.c.message_key,
                ),
            )
            .where(table.c.consumer_group == self.group)
            .order_by(table.c.held_since)
        )
        if topic is not None:
            query = query.where(table.c.topic == topic)
        with translate_db_errors(), self.engine.connect() as connection:
            return [
                HoldSummary(
                    row.topic,
                    row.message_key,
                    row.letter,
                    row.reason,
                    row.held_since,
                    row.released_at is not None,
                    row.release_reason,
                    row.held or 0,
                    row.oldest,
                )
                for row in connection.execute(query)
            ]

    def discarded(self) -> dict[str, str]:
        """The group's discarded letters and why."""
        table = self.tables.discarded_letters
        query = select(table.c.letter, table.c.reason).where(table.c.consumer_group == self.group)
        with translate_db_errors(), self.engine.connect() as connection:
            return {row.letter: row.reason for row in connection.execute(query)}

    def discard(self, *, topic: str, key: bytes, letter: str, reason: str) -> int | None:
        """Discard a letter: it will never be applied, even if redriven, and what it holds is
        released. Returns how many messages it held (None: it held nothing, e.g. its key moved
        to a later letter or was never held)."""
        table, held = self.tables.holds, self.tables.held_messages
        with translate_db_errors(), self.engine.begin() as connection:
            connection.execute(
                pg_insert(self.tables.discarded_letters)
                .values(consumer_group=self.group, letter=letter, reason=reason)
                .on_conflict_do_nothing()
            )
            released = connection.execute(
                update(table)
                .where(
                    table.c.consumer_group == self.group,
                    table.c.topic == topic,
                    table.c.message_key == key,
                    table.c.letter == letter,
                )
                .values(
                    released_at=func.coalesce(table.c.released_at, func.now()),
                    release_reason=f"discarded: {reason}",
                )
            )
            if released.rowcount == 0:
                return None
            return connection.execute(
                select(func.count())
                .select_from(held)
                .where(
                    held.c.consumer_group == self.group,
                    held.c.topic == topic,
                    held.c.message_key == key,
                )
            ).scalar_one()

    def _is(self, hold: Hold):
        table = self.tables.holds
        return (
            table.c.consumer_group == self.group,
            table.c.topic == hold.topic,
            table.c.message_key == hold.key,
        )


def _hold(row) -> Hold:
    return Hold(
        topic=row.topic,
        partition=row.kafka_partition,
        key=bytes(row.message_key),
        letter=row.letter,
        reason=row.reason,
        released=row.released_at is not None,
        release_reason=row.release_reason,
        held_since=row.held_since,
    )
