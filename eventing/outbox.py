"""Transactional outbox: write events with the state change, publish them afterwards.

`Outbox.add` runs inside the caller's database transaction, so an event exists exactly when
the state change it describes was committed. `OutboxRelay` publishes committed rows in order per
aggregate and marks them sent; a relay that dies between publishing and marking publishes the
rows again when it restarts (at-least-once), and consumers' inboxes drop the duplicates.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import zlib
from datetime import timedelta

from opentelemetry.trace import SpanKind
from sqlalchemy import Engine, Table, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from eventing.db_errors import translate_db_errors
from eventing.envelope import Envelope, utc_now
from eventing.errors import EventingError
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import Event, envelope_for
from eventing.tracing import context_from_headers, current_trace_headers, tracer

log = logging.getLogger(__name__)

LANES = 16
_ADVISORY_LOCK_NAMESPACE = 0x0E5E  # first key of pg_try_advisory_xact_lock(int, int)


def lane_of(key: str, lanes: int = LANES) -> int:
    """A stable lane for a key: the same aggregate always lands in the same lane."""
    return zlib.crc32(key.encode()) % lanes


class Outbox:
    def __init__(self, table: Table, *, topic_namespace: str = "", lanes: int = LANES):
        self.table = table
        self.topic_namespace = topic_namespace
        self.lanes = lanes

    def add(self, executor: Connection | Session, topic: str, envelope: Envelope) -> None:
        """Record an event to publish, in the caller's transaction, with the current trace."""
        executor.execute(
            insert(self.table).values(
                event_id=envelope.event_id,
                topic=f"{self.topic_namespace}{topic}",
                message_key=envelope.aggregate_id,
                lane=lane_of(envelope.aggregate_id, self.lanes),
                event_type=envelope.type,
                envelope=envelope.model_dump_json(),
                headers=current_trace_headers(),
            )
        )

    def add_event(
        self,
        executor: Connection | Session,
        event: Event,
        *,
        causation: Envelope | None = None,
        correlation_id: str | None = None,
    ) -> Envelope:
        """Wrap `event` in an envelope (caused by `causation`, if any) and add it for its topic."""
        envelope = envelope_for(event, causation=causation, correlation_id=correlation_id)
        self.add(executor, event.topic, envelope)
        return envelope


class OutboxRelay:
    """Moves committed outbox rows to Kafka. Any number of relays may run against one database."""

    def __init__(
        self,
        engine: Engine,
        outbox: Outbox,
        publisher: KafkaPublisher,
        *,
        batch_size: int = 500,
        idle_sleep_s: float = 0.02,
        max_backoff_s: float = 10.0,
        keep_published: timedelta = timedelta(days=7),
    ):
        self.engine = engine
        self.outbox = outbox
        self.table = outbox.table
        self.publisher = publisher
        self.batch_size = batch_size
        self.idle_sleep_s = idle_sleep_s
        self.max_backoff_s = max_backoff_s
        self.keep_published = keep_published

    def pending_lanes(self) -> list[int]:
        with translate_db_errors(), self.engine.connect() as connection:
            lanes = connection.execute(
                select(self.table.c.lane).where(self.table.c.published_at.is_(None)).distinct()
            ).scalars()
            return list(lanes)

    def publish_pending(self) -> int:
        """One pass over every lane with unpublished rows; returns how many rows were published."""
        lanes = self.pending_lanes()
        random.shuffle(lanes)
        return sum(self.publish_lane(lane) for lane in lanes)

    def publish_lane(self, lane: int) -> int:
        """Publish the oldest unpublished rows of a lane, unless another relay holds the lane."""
        with translate_db_errors(), self.engine.begin() as connection:
            locked = connection.execute(
                select(func.pg_try_advisory_xact_lock(_ADVISORY_LOCK_NAMESPACE, lane))
            ).scalar_one()
            if not locked:
                return 0
            rows = connection.execute(
                select(self.table)
                .where(self.table.c.lane == lane, self.table.c.published_at.is_(None))
                .order_by(self.table.c.id)
                .limit(self.batch_size)
            ).all()
            if not rows:
                return 0
            self.publisher.publish([self._message(row) for row in rows])
            connection.execute(
                update(self.table)
                .where(self.table.c.id.in_([row.id for row in rows]))
                .values(published_at=func.now())
            )
            return len(rows)

    def prune(self) -> int:
        """Delete rows published longer ago than `keep_published`."""
        with translate_db_errors(), self.engine.begin() as connection:
            result = connection.execute(
                delete(self.table).where(
                    self.table.c.published_at < utc_now() - self.keep_published
                )
            )
            return result.rowcount or 0

    def run(self, stop: threading.Event, prune_every_s: float = 300.0) -> None:
        """Publish until `stop` is set; back off with jitter while Kafka or the database is down."""
        failures = 0
        next_prune = time.monotonic()
        while not stop.is_set():
            try:
                published = self.publish_pending()
                if time.monotonic() >= next_prune:
                    self.prune()
                    next_prune = time.monotonic() + prune_every_s
                failures = 0
            except EventingError as error:
                failures += 1
                delay = min(self.max_backoff_s, 0.1 * 2**failures) * random.uniform(0.5, 1.0)
                log.warning("outbox relay failed (%s); retrying in %.1fs", error, delay)
                stop.wait(delay)
                continue
            if not published:
                stop.wait(self.idle_sleep_s)

    def _message(self, row) -> OutgoingMessage:
        """The Kafka message of a row, published in a producer span of the row's own trace."""
        with tracer.start_as_current_span(
            f"{row.topic} publish",
            context=context_from_headers(row.headers),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "publish",
                "messaging.destination.name": row.topic,
                "messaging.message.id": str(row.event_id),
                "messaging.kafka.message.key": row.message_key,
            },
        ):
            headers = current_trace_headers() or dict(row.headers)
        return OutgoingMessage(
            topic=row.topic,
            key=row.message_key.encode(),
            value=row.envelope.encode(),
            headers={**headers, "event_type": row.event_type},
        )


def unpublished_count(engine: Engine, table: Table) -> int:
    with engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(table).where(table.c.published_at.is_(None))
        ).scalar_one()
