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
from eventing.notifications import Notifications
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

    @property
    def channel(self) -> str:
        """The notification channel on which this outbox's relays listen."""
        return f"{self.table.name}_added"

    def add(self, executor: Connection | Session, topic: str, envelope: Envelope) -> None:
        """Record an event to publish, in the caller's transaction, with the current trace;
        the relays are woken when the transaction commits."""
        executor.execute(
            insert(self.table)
            .values(
                event_id=envelope.event_id,
                topic=f"{self.topic_namespace}{topic}",
                message_key=envelope.aggregate_id,
                lane=lane_of(envelope.aggregate_id, self.lanes),
                event_type=envelope.type,
                envelope=envelope.model_dump_json(),
                headers=current_trace_headers(),
            )
            # Queues a wake-up for the relays, sent when the transaction commits; in RETURNING
            # so that it costs no round trip of its own.
            .returning(func.pg_notify(self.channel, ""))
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
        idle_poll_s: float = 2.0,
        max_backoff_s: float = 10.0,
        keep_published: timedelta = timedelta(days=7),
    ):
        self.engine = engine
        self.outbox = outbox
        self.table = outbox.table
        self.publisher = publisher
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.notifications = Notifications(engine, outbox.channel)
        self.max_backoff_s = max_backoff_s
        self.keep_published = keep_published

    def publish_pending(self) -> int:
        """Publish the oldest unpublished rows of every lane no other relay holds, in one
        transaction; returns how many were published.

        The lane lock is taken in the query itself, row by row (re-entrant within the
        transaction), so one round trip claims every free lane and skips the held ones; each
        lane's rows come out in `id` order, and the locks last until the rows are marked."""
        table = self.table
        with translate_db_errors(), self.engine.begin() as connection:
            rows = connection.execute(
                select(table)
                .where(
                    table.c.published_at.is_(None),
                    func.pg_try_advisory_xact_lock(_ADVISORY_LOCK_NAMESPACE, table.c.lane),
                )
                .order_by(table.c.id)
                .limit(self.batch_size)
            ).all()
            if not rows:
                return 0
            self.publisher.publish([self._message(row) for row in rows])
            connection.execute(
                update(table)
                .where(table.c.id.in_([row.id for row in rows]))
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
        """Publish until `stop` is set; back off with jitter while Kafka or the database is down.

        Between passes the relay sleeps until a writer's transaction commits new rows (LISTEN/
        NOTIFY), or `idle_poll_s` at most: a notification missed while the listening connection
        was down costs that long."""
        try:
            self._run(stop, prune_every_s)
        finally:
            self.notifications.close()

    def _run(self, stop: threading.Event, prune_every_s: float) -> None:
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
                self._sleep_until_notified(stop)

    def _sleep_until_notified(self, stop: threading.Event, stop_check_s: float = 0.5) -> None:
        deadline = time.monotonic() + self.idle_poll_s
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            if self.notifications.wait(min(remaining, stop_check_s)):
                return

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
