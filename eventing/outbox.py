"""Transactional outbox: write events with the state change, publish them afterwards.

`Outbox.add` runs inside the caller's database transaction, so an event exists exactly when
the state change it describes was committed. `OutboxRelay` publishes committed rows in order per
aggregate and marks them sent; a relay that dies between publishing and marking publishes the
rows again when it restarts (at-least-once), and consumers' inboxes drop the duplicates. A row
the broker can never take is parked rather than allowed to stop its lane (see `OutboxRelay`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from confluent_kafka import KafkaError
from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind
from sqlalchemy import Engine, Table, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from eventing import dead_letter_headers as dlq
from eventing.config import qualified
from eventing.db_errors import translate_db_errors
from eventing.envelope import Envelope, utc_now
from eventing.errors import EventingError, KafkaUnavailable
from eventing.notifications import Notifications
from eventing.producer import Delivery, KafkaPublisher, OutgoingMessage, ProduceErrorKind
from eventing.registry import Event, envelope_for
from eventing.retry import RetryPolicy
from eventing.topics import dead_letter_topic
from eventing.tracing import context_from_headers, current_trace_headers, tracer

log = logging.getLogger(__name__)

LANES = 16
_ADVISORY_LOCK_NAMESPACE = 0x0E5E  # first key of pg_try_advisory_xact_lock(int, int)
PARKED_STUB_HEADER = dlq.OUTBOX_PARKED_EVENT_ID
"""Marks a dead letter that is only a stub of a parked outbox row (the row is the message)."""
_STUB_KEY_CHARS = 1000
_TRACE = ("traceparent", "tracestate")
_ROW_COLUMNS = ("event_id", "topic", "message_key", "lane", "event_type", "envelope", "headers")


def lane_of(key: str, lanes: int = LANES) -> int:
    """A stable lane for a key: the same aggregate always lands in the same lane."""
    return zlib.crc32(key.encode()) % lanes


class Outbox:
    """A service's outbox table. Its rows name their topics logically, as the in-memory outbox
    does; `topic_namespace` is the namespace its relays publish them under (`broker_topic`)."""

    def __init__(self, table: Table, *, topic_namespace: str = "", lanes: int = LANES):
        self.table = table
        self.topic_namespace = topic_namespace
        self.lanes = lanes
        # Built once, executed with each row's values: SQLAlchemy then reuses its compiled
        # form without building the statement and its cache key again for every event.
        self._insert = (
            insert(table)
            .values({name: bindparam(name) for name in _ROW_COLUMNS})
            # Queues a wake-up for the relays, sent when the transaction commits; in RETURNING
            # so that it costs no round trip of its own.
            .returning(func.pg_notify(self.channel, ""))
        )

    def broker_topic(self, topic: str) -> str:
        """The broker's name of a row's (logical) topic: where the relay publishes it."""
        return qualified(self.topic_namespace, topic)

    @property
    def channel(self) -> str:
        """The notification channel on which this outbox's relays listen."""
        return f"{self.table.name}_added"

    def add(self, executor: Connection | Session, topic: str, envelope: Envelope) -> None:
        """Record an event to publish on `topic` (its logical name), in the caller's
        transaction, with the current trace; the relays are woken when the transaction commits."""
        executor.execute(
            self._insert,
            {
                "event_id": envelope.event_id,
                "topic": topic,
                "message_key": envelope.aggregate_id,
                "lane": lane_of(envelope.aggregate_id, self.lanes),
                "event_type": envelope.type,
                "envelope": envelope.model_dump_json(),
                "headers": current_trace_headers(),
            },
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


@dataclass
class RelayPass:
    """What one `OutboxRelay.publish_pass` did."""

    published: int = 0
    parked: int = 0
    retry_later: int = 0
    """Rows that failed for a reason that may pass (broker down): left pending, retried."""

    @property
    def handled(self) -> int:
        return self.published + self.parked


@dataclass(frozen=True)
class _Park:
    row: Any
    reason: str
    error_name: str
    size_bytes: int


class OutboxRelay:
    """Moves committed outbox rows to Kafka. Any number of relays may run against one database.

    A row the broker can never take (`ProduceErrorKind.PERMANENT`: too large, invalid) does not
    stop its lane: it is parked in the table with its reason, a small stub naming it goes to
    `<topic>.dlq`, the `outbox.parked` metric counts it, and later rows of the same topic and
    key are held back until an operator retries or discards it (`shopctl outbox`). Rows of
    other keys keep flowing. Any other failure leaves the rows pending and retries them."""

    def __init__(
        self,
        engine: Engine,
        outbox: Outbox,
        publisher: KafkaPublisher,
        *,
        batch_size: int = 500,
        idle_poll_s: float = 2.0,
        max_backoff_s: float = 2.0,
        keep_published: timedelta = timedelta(days=7),
        meter_provider: MeterProvider | None = None,
    ):
        self.engine = engine
        self.outbox = outbox
        self.table = outbox.table
        self.publisher = publisher
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.notifications = Notifications(engine, outbox.channel)
        self.max_backoff_s = max_backoff_s
        self.backoff = RetryPolicy(base_delay_s=0.2, max_delay_s=max_backoff_s)
        self.keep_published = keep_published
        # Built once: every pass runs them (see `Outbox.__init__`).
        self._pending = self._pending_rows()
        self._mark_published = (
            update(self.table)
            .where(self.table.c.id.in_(bindparam("ids", expanding=True)))
            # The time Kafka had stored them, not the pass's start (`now()`): a pass can
            # wait out a broker outage in `deliver`, and saga deadlines count from here.
            .values(published_at=func.clock_timestamp())
        )
        self._parked_counter = metrics.get_meter(
            "eventing.outbox", meter_provider=meter_provider
        ).create_counter(
            "outbox.parked",
            description="outbox rows parked because the broker can never take them",
        )

    def publish_pending(self) -> int:
        """Publish (or park) the oldest pending rows of every free lane; returns how many were
        published. Raises KafkaUnavailable when some rows must be retried later."""
        return self.publish_pass().published

    def publish_pass(self) -> RelayPass:
        """Publish the oldest pending rows of every lane no other relay holds, in one
        transaction, parking those the broker can never take.

        The lane lock is taken in the query itself, row by row (re-entrant within the
        transaction), so one round trip claims every free lane and skips the held ones; each
        lane's rows come out in `id` order, and the locks last until the rows are marked. A row
        behind a parked row of its topic and key is not selected at all."""
        with translate_db_errors(), self.engine.begin() as connection:
            rows = connection.execute(self._pending).all()
            if not rows:
                return RelayPass()
            published, parks, retry_later = self._send(rows)
            if parks:
                parks = self._dead_letter_stubs(parks)
                self._mark_parked(connection, parks)
            if published:
                connection.execute(self._mark_published, {"ids": [row.id for row in published]})
        for park in parks:
            topic = self.outbox.broker_topic(park.row.topic)
            self._parked_counter.add(1, {"messaging.destination.name": topic})
            log.error(
                "parked outbox row %d (%s %s, key %r, %d bytes) for %s: %s; later rows of its "
                "key wait until `shopctl outbox retry` or `discard`",
                park.row.id,
                park.row.event_type,
                park.row.event_id,
                park.row.message_key[:200],
                park.size_bytes,
                topic,
                park.reason,
            )
        result = RelayPass(len(published), len(parks), len(retry_later))
        if retry_later:
            raise KafkaUnavailable(
                f"{len(retry_later)} of {len(rows)} outbox rows not published "
                f"(published {result.published}, parked {result.parked}): {retry_later[0]}"
            )
        return result

    def _pending_rows(self):
        table = self.table
        parked = table.alias("parked")
        held = (
            exists()
            .where(
                parked.c.topic == table.c.topic,
                parked.c.message_key == table.c.message_key,
                parked.c.id < table.c.id,
                parked.c.parked_at.is_not(None),
                parked.c.discarded_at.is_(None),
            )
            .correlate(table)
        )
        return (
            select(table)
            .where(
                table.c.published_at.is_(None),
                table.c.parked_at.is_(None),
                ~held,
                func.pg_try_advisory_xact_lock(_ADVISORY_LOCK_NAMESPACE, table.c.lane),
            )
            .order_by(table.c.id)
            .limit(self.batch_size)
        )

    def _send(self, rows) -> tuple[list, list[_Park], list[str]]:
        """Publish the rows; which were published, which must be parked, and why the others
        must wait (rows left out entirely are held behind a row of their key that failed)."""
        published: list = []
        parks: list[_Park] = []
        retry_later: list[str] = []
        sendable = []
        for row in rows:
            try:
                sendable.append((row, self._message(row)))
            except UnicodeEncodeError as error:  # text PostgreSQL took but UTF-8 cannot carry
                parks.append(_Park(row, f"not encodable as UTF-8: {error}", "UNENCODABLE", 0))
        parked_keys = {(park.row.topic, park.row.message_key) for park in parks}
        sendable = [(r, m) for r, m in sendable if (r.topic, r.message_key) not in parked_keys]
        deliveries = self.publisher.deliver([message for _, message in sendable])
        suspects = []
        for (row, message), delivery in zip(sendable, deliveries, strict=True):
            if delivery.delivered:
                published.append(row)
            elif delivery.skipped:
                continue
            elif delivery.kind is ProduceErrorKind.PERMANENT and delivery.at_produce:
                parks.append(_park(row, message, delivery))
            elif delivery.kind is ProduceErrorKind.PERMANENT:
                suspects.append((row, message))
            else:
                assert delivery.error is not None  # neither delivered nor skipped: it failed
                retry_later.append(f"{delivery.error.name()}: {delivery.error.str()}")
        # The broker refuses a whole batch for one bad message in it, so each message refused
        # that way is tried again alone: only one that fails alone is parked.
        for row, message in suspects:
            key = (row.topic, row.message_key)
            if key in parked_keys:
                continue  # behind a row of its key parked just now: held
            (delivery,) = self.publisher.deliver([message])
            if delivery.delivered:
                published.append(row)
            elif delivery.kind is ProduceErrorKind.PERMANENT:
                parks.append(_park(row, message, delivery))
                parked_keys.add(key)
            else:
                assert delivery.error is not None  # neither delivered nor skipped: it failed
                retry_later.append(f"{delivery.error.name()}: {delivery.error.str()}")
        return published, parks, retry_later

    def _dead_letter_stubs(self, parks: list[_Park]) -> list[_Park]:
        """A small record of each parked row on its topic's dead-letter topic, with the reason
        headers consumers' dead letters carry; the row itself stays in the database.

        The parked row is the record that matters (`shopctl outbox list`, the metric), so a stub
        that cannot be sent does not stop the parking: its reason says so instead."""
        stubs = [self._stub(park) for park in parks]
        try:
            deliveries = self.publisher.deliver(stubs)
        except KafkaUnavailable as error:
            deliveries = [Delivery(error=KafkaError(KafkaError._TIMED_OUT, str(error)))] * len(
                stubs
            )
        return [
            park
            if delivery.delivered
            else replace(
                park,
                reason=f"{park.reason}; no stub on {stub.topic}: {delivery.error or 'skipped'}",
            )
            for park, stub, delivery in zip(parks, stubs, deliveries, strict=True)
        ]

    def _stub(self, park: _Park) -> OutgoingMessage:
        row = park.row
        topic = self.outbox.broker_topic(row.topic)
        key = row.message_key[:_STUB_KEY_CHARS]
        description = {
            "outbox_row_id": row.id,
            "event_id": str(row.event_id),
            "event_type": row.event_type,
            "topic": topic,
            "key": key,
            "key_truncated": len(key) < len(row.message_key),
            "size_bytes": park.size_bytes,
            "reason": park.reason,
            "database": self.engine.url.database,
        }
        return OutgoingMessage(
            topic=dead_letter_topic(topic),
            key=key.encode(errors="replace"),
            value=json.dumps({"parked_outbox_row": description}).encode(),
            headers={
                **{name: value for name, value in dict(row.headers).items() if name in _TRACE},
                "event_type": row.event_type,
                dlq.ORIGINAL_TOPIC: topic,
                **dlq.reason_headers(
                    error_class=park.error_name, error_message=park.reason, attempts=1
                ),
                dlq.OUTBOX_PARKED_EVENT_ID: str(row.event_id),
                dlq.OUTBOX_ROW_ID: str(row.id),
                dlq.OUTBOX_DATABASE: str(self.engine.url.database),
                dlq.OUTBOX_SIZE_BYTES: str(park.size_bytes),
            },
        )

    def _mark_parked(self, connection: Connection, parks: list[_Park]) -> None:
        for park in parks:
            connection.execute(
                update(self.table)
                .where(self.table.c.id == park.row.id)
                .values(parked_at=func.now(), park_reason=park.reason)
            )

    def prune(self) -> int:
        """Delete rows published, or discarded, longer ago than `keep_published`."""
        cutoff = utc_now() - self.keep_published
        with translate_db_errors(), self.engine.begin() as connection:
            result = connection.execute(
                delete(self.table).where(
                    or_(self.table.c.published_at < cutoff, self.table.c.discarded_at < cutoff)
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
        """The backoff is capped at `max_backoff_s` (2 s) because it is also how late the relay
        may notice that its database or the broker is back, and sleeping through a healed
        outage delays every checkout behind it.

        A pass that did not fill its batch took every row committed before it began, so the
        next pass waits for a writer's notification instead of running at once to find
        nothing: that empty pass followed every publishing one (11.9 read-only commits per
        checkout). A notification that arrived during the pass wakes the wait at once."""
        failures = 0
        next_prune = time.monotonic()
        while not stop.is_set():
            try:
                handled = self.publish_pass().handled
                if time.monotonic() >= next_prune:
                    self.prune()
                    next_prune = time.monotonic() + prune_every_s
                failures = 0
            except EventingError as error:
                failures += 1
                delay = self.backoff.delay(failures)
                log.warning("outbox relay failed (%s); retrying in %.1fs", error, delay)
                stop.wait(delay)
                continue
            if handled < self.batch_size:
                self._sleep_until_notified(stop)

    def _sleep_until_notified(self, stop: threading.Event, stop_check_s: float = 0.5) -> None:
        deadline = time.monotonic() + self.idle_poll_s
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            if self.notifications.wait(min(remaining, stop_check_s)):
                return

    def _message(self, row) -> OutgoingMessage:
        """The Kafka message of a row, published in a producer span of the row's own trace."""
        topic = self.outbox.broker_topic(row.topic)
        with tracer.start_as_current_span(
            f"{topic} publish",
            context=context_from_headers(row.headers),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "publish",
                "messaging.destination.name": topic,
                "messaging.message.id": str(row.event_id),
                "messaging.kafka.message.key": row.message_key,
            },
        ):
            headers = current_trace_headers() or dict(row.headers)
        return OutgoingMessage(
            topic=topic,
            key=row.message_key.encode(),
            value=row.envelope.encode(),
            headers={**headers, "event_type": row.event_type},
        )


def _park(row, message: OutgoingMessage, delivery: Delivery) -> _Park:
    error = delivery.error
    assert error is not None
    size = _size_bytes(message)
    return _Park(row, f"{error.str()} ({size} bytes)", error.name(), size)


def _size_bytes(message: OutgoingMessage) -> int:
    headers = sum(len(name) + len(value.encode()) for name, value in message.headers.items())
    return len(message.key) + len(message.value) + headers


def unpublished_count(engine: Engine, table: Table) -> int:
    """Rows waiting to be published (held ones included; parked ones are not waiting)."""
    with engine.connect() as connection:
        return connection.execute(
            select(func.count())
            .select_from(table)
            .where(table.c.published_at.is_(None), table.c.parked_at.is_(None))
        ).scalar_one()
