"""The shop's Kafka consumer: at-least-once delivery, ordered retries, dead letters.

- An offset is stored only after the handler returned (its database transaction committed) or
  the message went to its dead-letter topic, and librdkafka commits stored offsets; so a crash
  redelivers, and the handler's inbox makes the redelivery harmless.
- A `TransientError` (database or broker down, deadlock) pauses the message's partition and
  retries the same message after an exponential backoff with jitter, as long as it takes: the
  partition's order holds and nothing is skipped. Other partitions keep flowing.
- A `PoisonMessage` (undecodable, unknown type, invalid payload) goes straight to `<topic>.dlq`;
  any other exception is retried `max_attempts` times before it does. The dead letter carries
  the original message and headers saying where it came from and why it failed.
- `stop` (set by SIGTERM in the worker) ends the loop after the message in hand; stored offsets
  are committed on partition revocation and on close.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from opentelemetry.trace import SpanKind

from eventing.config import KafkaSettings
from eventing.envelope import utc_now
from eventing.errors import PoisonMessage, TransientError
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import Decoded, EventRegistry
from eventing.topics import dead_letter_topic
from eventing.tracing import (
    ConsumedMessage,
    context_from_headers,
    kafka_headers_to_dict,
    process_attributes,
    tracer,
)

log = logging.getLogger(__name__)

Handler = Callable[[Decoded], None]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    """Attempts for an unexpected error before the message is dead-lettered."""
    base_delay_s: float = 0.2
    max_delay_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter on its upper half."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass
class _PendingRetry:
    offset: int
    attempts: int
    resume_at: float


def dead_letter_headers(
    *,
    headers: dict[str, str],
    topic: str,
    partition: int,
    offset: int,
    group_id: str,
    error: BaseException,
    attempts: int,
) -> dict[str, str]:
    """The original headers plus where the message came from and why it failed."""
    return {
        **headers,
        "dlq.original.topic": topic,
        "dlq.original.partition": str(partition),
        "dlq.original.offset": str(offset),
        "dlq.consumer.group": group_id,
        "dlq.error.class": type(error).__name__,
        "dlq.error.message": str(error)[:2000],
        "dlq.attempts": str(attempts),
        "dlq.failed_at": utc_now().isoformat(),
    }


class DeadLetters:
    """Publishes a failed message to its topic's dead-letter topic, with the reason in headers."""

    def __init__(self, publisher: KafkaPublisher, group_id: str):
        self.publisher = publisher
        self.group_id = group_id

    def send(self, message: Message, error: BaseException, attempts: int) -> None:
        headers = dead_letter_headers(
            headers=kafka_headers_to_dict(message.headers()),
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            group_id=self.group_id,
            error=error,
            attempts=attempts,
        )
        self.publisher.publish(
            [
                OutgoingMessage(
                    topic=dead_letter_topic(message.topic()),
                    key=message.key() or b"",
                    value=message.value() or b"",
                    headers=headers,
                )
            ]
        )


class EventConsumer:
    def __init__(
        self,
        settings: KafkaSettings,
        *,
        group_id: str,
        topics: Iterable[str],
        handler: Handler,
        registry: EventRegistry,
        dead_letters: DeadLetters | None = None,
        retry: RetryPolicy | None = None,
        extra_config: dict[str, object] | None = None,
    ):
        # A namespace isolates consumer groups as well as topics.
        self.group_id = settings.qualify(group_id)
        self.topics = [settings.qualify(topic) for topic in topics]
        self.handler = handler
        self.registry = registry
        self.retry = retry or RetryPolicy()
        self.dead_letters = dead_letters or DeadLetters(KafkaPublisher(settings), self.group_id)
        self._pending: dict[tuple[str, int], _PendingRetry] = {}
        self._config = {
            **settings.client_config(),
            "group.id": self.group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "auto.commit.interval.ms": 1000,
            "partition.assignment.strategy": "cooperative-sticky",
            # A crashed worker's partitions move to the others (or to its restart) after
            # 10 s instead of the default 45 s: sagas wait seconds, not their timeouts.
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 1000,
            **(extra_config or {}),
        }
        self.processed = 0

    def run(self, stop: threading.Event, poll_timeout_s: float = 0.5) -> None:
        """Consume until `stop` is set, then commit and leave the group."""
        self._consumer = Consumer(self._config)
        self._pending.clear()
        self._consumer.subscribe(self.topics, on_revoke=self._on_revoke)
        try:
            while not stop.is_set():
                self._resume_due_partitions()
                message = self._consumer.poll(poll_timeout_s)
                if message is None:
                    continue
                if message.error():
                    self._on_kafka_error(message.error())
                    continue
                self._process(message)
        finally:
            self.close()

    def close(self) -> None:
        self._commit_stored()
        self._consumer.close()

    def _process(self, message: Message) -> None:
        partition = (message.topic(), message.partition())
        pending = self._pending.get(partition)
        headers = kafka_headers_to_dict(message.headers())
        if pending and pending.offset == message.offset():
            attempts = pending.attempts + 1
        else:  # a message redriven from its dead-letter topic keeps its attempt count
            attempts = _int(headers.get("dlq.attempts")) + 1
        consumed = ConsumedMessage(
            message.topic(), message.partition(), message.offset(), message.key(), headers
        )
        with tracer.start_as_current_span(
            f"{message.topic()} process",
            context=context_from_headers(headers),
            kind=SpanKind.CONSUMER,
            attributes=process_attributes(consumed, self.group_id),
        ) as span:
            try:
                decoded = self.registry.decode(message.value())
                span.set_attribute("messaging.message.id", str(decoded.envelope.event_id))
                span.set_attribute("event.type", decoded.envelope.type)
                self.handler(decoded)
            except PoisonMessage as error:
                span.record_exception(error)
                self._dead_letter(message, error, attempts)
            except TransientError as error:
                span.record_exception(error)
                self._retry_later(message, attempts, error)
            except Exception as error:
                span.record_exception(error)
                if attempts >= self.retry.max_attempts:
                    self._dead_letter(message, error, attempts)
                else:
                    self._retry_later(message, attempts, error)
            else:
                self._done(message)

    def _done(self, message: Message) -> None:
        self._pending.pop((message.topic(), message.partition()), None)
        self._consumer.store_offsets(message=message)
        self.processed += 1

    def _dead_letter(self, message: Message, error: BaseException, attempts: int) -> None:
        log.error(
            "dead-lettering %s[%d]@%d after %d attempt(s): %s: %s",
            message.topic(),
            message.partition(),
            message.offset(),
            attempts,
            type(error).__name__,
            error,
        )
        try:
            self.dead_letters.send(message, error, attempts)
        except Exception as publish_error:  # the message must not be lost: retry it instead
            self._retry_later(message, attempts, publish_error)
            return
        self._done(message)

    def _retry_later(self, message: Message, attempts: int, error: BaseException) -> None:
        delay = self.retry.delay(attempts)
        log.warning(
            "retrying %s[%d]@%d in %.2fs (attempt %d): %s: %s",
            message.topic(),
            message.partition(),
            message.offset(),
            delay,
            attempts,
            type(error).__name__,
            error,
        )
        partition = TopicPartition(message.topic(), message.partition(), message.offset())
        self._consumer.pause([partition])
        self._consumer.seek(partition)
        self._pending[(message.topic(), message.partition())] = _PendingRetry(
            message.offset(), attempts, time.monotonic() + delay
        )

    def _resume_due_partitions(self) -> None:
        now = time.monotonic()
        due = [key for key, pending in self._pending.items() if pending.resume_at <= now]
        if due:
            assigned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
            self._consumer.resume([TopicPartition(t, p) for t, p in due if (t, p) in assigned])
            for key in due:
                self._pending[key].resume_at = float("inf")

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit_stored()
        for tp in partitions:
            self._pending.pop((tp.topic, tp.partition), None)

    def _commit_stored(self) -> None:
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as error:
            if error.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("committing offsets failed: %s", error)

    def _on_kafka_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        log.warning("kafka: %s", error.str())


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
