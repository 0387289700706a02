"""The one Kafka producer configuration of the shop: idempotent, acks=all, ordered per key.

A failed delivery is one of three kinds (`classify_produce_error`), as librdkafka reports them:
- fatal: the idempotent producer itself is broken (fenced, sequence lost); it is replaced by a
  new one and the messages are sent again;
- permanent: the broker can never take this message as it is (too large, an invalid record);
  sending the same bytes again cannot help;
- retriable: anything else (broker down, leader moving, timed out, topic not there yet); the
  same message may succeed later.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, Producer

from eventing.config import KafkaSettings
from eventing.errors import KafkaUnavailable, PublishError


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    key: bytes
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class ProduceErrorKind(enum.Enum):
    FATAL = "fatal"
    PERMANENT = "permanent"
    RETRIABLE = "retriable"


#: Errors that are the message's own fault: the broker refuses these bytes whenever they come.
#: Everything about the world (brokers, leaders, topics, authorisation, timeouts) is retriable,
#: because an operator can fix the world and the message must then still be there.
PERMANENT_MESSAGE_ERRORS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,  # local check of message.max.bytes, or the broker's
        KafkaError.INVALID_RECORD,  # e.g. a compacted topic's record without a key
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_MSG,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_TIMESTAMP,
        KafkaError.POLICY_VIOLATION,
    }
)


def classify_produce_error(error: KafkaError) -> ProduceErrorKind:
    if error.fatal():
        return ProduceErrorKind.FATAL
    if error.code() in PERMANENT_MESSAGE_ERRORS:
        return ProduceErrorKind.PERMANENT
    return ProduceErrorKind.RETRIABLE


@dataclass(frozen=True)
class Delivery:
    """What became of one message of a `KafkaPublisher.deliver` call."""

    error: KafkaError | None = None
    at_produce: bool = False
    """The error came from `produce()` itself, for this message alone (e.g. larger than
    `message.max.bytes`), not from the broker's answer to a batch that held it."""
    skipped: bool = False
    """Not sent: an earlier message of the same topic and key failed at `produce()`, and sending
    this one would have put it ahead of that one."""

    @property
    def delivered(self) -> bool:
        return self.error is None and not self.skipped

    @property
    def kind(self) -> ProduceErrorKind | None:
        return classify_produce_error(self.error) if self.error is not None else None


def producer_config(settings: KafkaSettings) -> dict[str, object]:
    """Idempotence keeps order and drops broker-side duplicates across retries."""
    return {
        **settings.client_config(),
        "enable.idempotence": True,
        "acks": "all",
        "max.in.flight.requests.per.connection": 5,
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.timeout.ms": 30000,
    }


class KafkaPublisher:
    """Publishes batches and returns only when Kafka has stored every message of the batch."""

    def __init__(
        self, settings: KafkaSettings, *, extra_config: Mapping[str, object] | None = None
    ):
        self._config = {**producer_config(settings), **(extra_config or {})}
        self._producer = Producer(self._config)

    def publish(self, messages: Iterable[OutgoingMessage], timeout_s: float = 30.0) -> int:
        """Publish every message or raise: PublishError when any failed."""
        deliveries = self.deliver(list(messages), timeout_s)
        failures = [d.error for d in deliveries if d.error is not None]
        if failures:
            raise PublishError(
                f"{len(failures)} of {len(deliveries)} messages failed: {failures[0].str()}"
            )
        return len(deliveries)

    def deliver(
        self, messages: Sequence[OutgoingMessage], timeout_s: float = 30.0
    ) -> list[Delivery]:
        """Send the messages in order and say, for each, whether Kafka stored it.

        A message that fails at `produce()` makes the later messages of its topic and key
        `skipped`, so that none of them overtakes it. Raises KafkaUnavailable when Kafka has not
        answered for every message within `timeout_s`. After a fatal error the producer is
        replaced, so the next call starts afresh."""
        errors: dict[int, KafkaError] = {}
        deliveries: list[Delivery | None] = [None] * len(messages)
        stopped_keys: set[tuple[str, bytes]] = set()
        for index, message in enumerate(messages):
            if (message.topic, message.key) in stopped_keys:
                deliveries[index] = Delivery(skipped=True)
                continue
            error = self._produce(message, self._on_delivery(errors, index))
            if error is not None:
                deliveries[index] = Delivery(error=error, at_produce=True)
                stopped_keys.add((message.topic, message.key))
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise KafkaUnavailable(
                f"{remaining} of {len(messages)} messages not acknowledged in {timeout_s}s"
            )
        result = [
            delivery if delivery is not None else Delivery(error=errors.get(index))
            for index, delivery in enumerate(deliveries)
        ]
        if any(d.kind is ProduceErrorKind.FATAL for d in result):
            self._producer = Producer(self._config)
        return result

    @staticmethod
    def _on_delivery(errors: dict[int, KafkaError], index: int):
        def on_delivery(error: KafkaError | None, _message: object) -> None:
            if error is not None:
                errors[index] = error

        return on_delivery

    def _produce(self, message: OutgoingMessage, on_delivery) -> KafkaError | None:
        """Hand the message to librdkafka; the error it refused the message with, if any."""
        headers: list[tuple[str, str | bytes | None]] = [
            (name, value.encode()) for name, value in message.headers.items()
        ]
        while True:
            try:
                self._producer.produce(
                    message.topic,
                    key=message.key,
                    value=message.value,
                    headers=headers,
                    on_delivery=on_delivery,
                )
                return None
            except BufferError:
                self._producer.poll(0.1)
            except KafkaException as error:
                return error.args[0]

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)
