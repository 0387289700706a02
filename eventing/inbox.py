"""Idempotent consumers: an event's effects and the record that it was applied commit together.

The record is needed for as long as the event can be delivered again, and no longer, so the
inbox is pruned by age with a bound read from the topics' own retention (`inbox_retention`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, delete
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from eventing.db_errors import translate_db_errors
from eventing.envelope import utc_now
from eventing.errors import EventingError
from eventing.registry import EventRegistry
from eventing.sql import insert_or_skip
from eventing.topics import DAY_MS, TopicSpec, all_topics, dead_letter_topic

log = logging.getLogger(__name__)

#: Kafka deletes a log segment only once its newest record is past `retention.ms`, and a
#: segment rolls after `segment.ms`, the broker's `log.roll.ms` (7 days) when the topic sets
#: none: a record may outlive its retention by that much.
BROKER_SEGMENT_MS = 7 * DAY_MS
#: On top of what Kafka may keep: clock skew, a consumer lagging at the bound, a slow prune.
RETENTION_MARGIN = timedelta(days=1)


class Inbox:
    def __init__(self, table: Table, consumer: str):
        self.table = table
        self.consumer = consumer
        self._claim = insert_or_skip(
            table, ("consumer", "event_id", "event_type"), conflict="(consumer, event_id)"
        )

    def claim(self, executor: Connection | Session, event_id: uuid.UUID, event_type: str) -> bool:
        """Record the event as applied, in the caller's transaction.

        Returns False when this consumer already applied it: the caller then does nothing, and a
        redelivered or replayed event has no second effect.
        """
        # An INSERT's result is a CursorResult, though Session.execute is typed as a plain Result.
        result = cast(
            "CursorResult[Any]",
            executor.execute(
                self._claim,
                {"consumer": self.consumer, "event_id": event_id, "event_type": event_type},
            ),
        )
        return result.rowcount == 1


def topic_lifetime(spec: TopicSpec) -> timedelta | None:
    """How long a record may stay readable in the topic; None when unbounded (compacted)."""
    if "compact" in spec.config.get("cleanup.policy", "delete").split(","):
        return None
    retention_ms = int(spec.config.get("retention.ms", 7 * DAY_MS))
    if retention_ms < 0:  # Kafka's "keep forever"
        return None
    segment_ms = int(spec.config.get("segment.ms", BROKER_SEGMENT_MS))
    return timedelta(milliseconds=retention_ms + segment_ms)


def inbox_retention(topic: str, specs: Iterable[TopicSpec] | None = None) -> timedelta | None:
    """How long an inbox row of an event from `topic` must be kept; None: forever.

    An applied event can come back as long as it can be read: from its topic (a replay, a
    redelivery), and from its dead-letter topic, whose copy a redrive puts back on the topic,
    where it stays readable for the topic's lifetime again. So the bound is the dead-letter
    topic's lifetime plus the topic's, plus a margin. A compacted topic keeps each key's latest
    event forever, so its events' rows are never pruned.
    """
    by_name = {spec.name: spec for spec in (all_topics() if specs is None else specs)}
    if topic not in by_name:
        return None
    lifetimes = [topic_lifetime(by_name[topic])]
    if dead_letter_topic(topic) in by_name:
        lifetimes.append(topic_lifetime(by_name[dead_letter_topic(topic)]))
    bounded = [lifetime for lifetime in lifetimes if lifetime is not None]
    if len(bounded) < len(lifetimes):
        return None
    return sum(bounded, RETENTION_MARGIN)


def retention_by_event_type(
    registry: EventRegistry, specs: Iterable[TopicSpec] | None = None
) -> dict[str, timedelta]:
    """Event type -> how long its inbox rows are kept, for the types that may be pruned at all
    (a type on a compacted topic, or on two topics one of which is unbounded, is left out)."""
    specs = list(all_topics() if specs is None else specs)
    bounds: dict[str, timedelta | None] = {}
    for event_type, version in registry.types():
        bound = inbox_retention(registry.model_for(event_type, version).topic, specs)
        if event_type in bounds:
            previous = bounds[event_type]
            bound = None if previous is None or bound is None else max(previous, bound)
        bounds[event_type] = bound
    return {event_type: bound for event_type, bound in bounds.items() if bound is not None}


class InboxPruner:
    """Deletes inbox rows older than their event type's retention; other rows are kept."""

    def __init__(self, engine: Engine, table: Table, retention: Mapping[str, timedelta]):
        self.engine = engine
        self.table = table
        self.retention = dict(retention)

    def prune(self, now: datetime | None = None) -> int:
        now = now or utc_now()
        types_by_bound: dict[timedelta, list[str]] = {}
        for event_type, bound in self.retention.items():
            types_by_bound.setdefault(bound, []).append(event_type)
        deleted = 0
        with translate_db_errors(), self.engine.begin() as connection:
            for bound, event_types in types_by_bound.items():
                result = connection.execute(
                    delete(self.table).where(
                        self.table.c.event_type.in_(sorted(event_types)),
                        self.table.c.processed_at < now - bound,
                    )
                )
                deleted += result.rowcount or 0
        return deleted

    def run(self, stop: threading.Event, every_s: float = 3600.0) -> None:
        """Prune now and then every `every_s` until `stop` is set; a failure waits a round."""
        while not stop.is_set():
            try:
                deleted = self.prune()
                if deleted:
                    log.info("inbox pruned: %d rows past their topics' retention", deleted)
            except (EventingError, SQLAlchemyError) as error:
                log.warning("inbox pruning failed (%s); trying again later", error)
            stop.wait(every_s)
