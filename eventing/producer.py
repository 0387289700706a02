"""The one Kafka producer configuration of the shop: idempotent, acks=all, ordered per key."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Producer

from eventing.config import KafkaSettings
from eventing.errors import KafkaUnavailable, PublishError


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    key: bytes
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


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
        self._producer = Producer({**producer_config(settings), **(extra_config or {})})

    def publish(self, messages: Iterable[OutgoingMessage], timeout_s: float = 30.0) -> int:
        failures: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _message: object) -> None:
            if error is not None:
                failures.append(error)

        count = 0
        for message in messages:
            self._produce(message, on_delivery)
            count += 1
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise KafkaUnavailable(
                f"{remaining} of {count} messages not acknowledged in {timeout_s}s"
            )
        if failures:
            raise PublishError(f"{len(failures)} of {count} messages failed: {failures[0].str()}")
        return count

    def _produce(self, message: OutgoingMessage, on_delivery) -> None:
        headers = [(name, value.encode()) for name, value in message.headers.items()]
        while True:
            try:
                self._producer.produce(
                    message.topic,
                    key=message.key,
                    value=message.value,
                    headers=headers,
                    on_delivery=on_delivery,
                )
                return
            except BufferError:
                self._producer.poll(0.1)

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)
