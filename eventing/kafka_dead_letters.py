"""Dead letters as Kafka holds them: listing the dead-letter topics, reading their letters, and
redriving them to their original topics. (What a letter holds back lives in its group's
database: `eventing.held`.)

Topic names are the broker's (qualified with the settings' namespace): a letter's headers name
the topic it was taken from as the broker does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, Message, TopicPartition
from confluent_kafka.admin import OffsetSpec

from eventing import dead_letter_headers as dlq
from eventing.config import KafkaSettings
from eventing.delivered import headers_of, offset_of, partition_of
from eventing.errors import KafkaUnavailable
from eventing.held import letter_name
from eventing.kafka_admin import admin_client
from eventing.kafka_offsets import offsets
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.topics import DLQ_SUFFIX

REDRIVE_GROUP = "shopctl-dlq-redrive"


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def original_topic(self) -> str:
        return self.headers.get(dlq.ORIGINAL_TOPIC, self.topic.removesuffix(DLQ_SUFFIX))

    @property
    def original_partition(self) -> int | None:
        return _int_or_none(self.headers.get(dlq.ORIGINAL_PARTITION))

    @property
    def original_offset(self) -> int | None:
        return _int_or_none(self.headers.get(dlq.ORIGINAL_OFFSET))

    @property
    def attempts(self) -> int | None:
        return _int_or_none(self.headers.get(dlq.ATTEMPTS))

    @property
    def redriven_from(self) -> str | None:
        """Where a redriven copy was redriven from (a letter that is itself one)."""
        return self.headers.get(dlq.REDRIVEN_FROM)

    @property
    def reason(self) -> str:
        error_class = self.headers.get(dlq.ERROR_CLASS, "?")
        return f"{error_class}: {self.headers.get(dlq.ERROR_MESSAGE, '')}"

    @property
    def group(self) -> str | None:
        """The consumer group that dead-lettered it."""
        return self.headers.get(dlq.CONSUMER_GROUP)

    @property
    def is_parked_outbox_stub(self) -> bool:
        """Only a stub of a parked outbox row: the row is the message (`shopctl outbox`)."""
        return dlq.OUTBOX_PARKED_EVENT_ID in self.headers

    @property
    def name(self) -> str:
        """The letter's name, as the holds of its group know it: where it was taken from."""
        partition, offset = self.original_partition, self.original_offset
        return letter_name(
            self.original_topic,
            partition if partition is not None else -1,
            offset if offset is not None else -1,
        )


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def dead_letter_topics(settings: KafkaSettings) -> list[str]:
    """The dead-letter topics of the settings' namespace, by their broker names."""
    names = admin_client(settings).list_topics(timeout=10).topics
    return sorted(n for n in names if n.endswith(DLQ_SUFFIX) and settings.in_namespace(n))


def read_dead_letters(
    settings: KafkaSettings, topic: str, *, group: str | None = None, limit: int = 1000
) -> Iterator[tuple[DeadLetter, Message]]:
    """The topic's dead letters from the group's committed offsets (all of them without one)."""
    admin = admin_client(settings)
    ends = offsets(admin, topic, OffsetSpec.latest())
    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": group or f"shopctl-peek-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        committed = (
            {
                tp.partition: tp.offset
                for tp in consumer.committed([TopicPartition(topic, p) for p in ends], timeout=10)
            }
            if group
            else {}
        )
        starts = {
            p: committed.get(p, -1)
            if committed.get(p, -1) >= 0
            else offsets(admin, topic, OffsetSpec.earliest())[p]
            for p in ends
        }
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in ends])
        remaining = {p for p in ends if starts[p] < ends[p]}
        count = 0
        while remaining and count < limit:
            message = consumer.poll(5)
            if message is None:
                raise KafkaUnavailable(f"reading {topic} stalled")
            if message.error():
                continue
            count += 1
            yield (
                DeadLetter(
                    topic,
                    partition_of(message),
                    offset_of(message),
                    message.key(),
                    message.value(),
                    headers_of(message),
                ),
                message,
            )
            if offset_of(message) + 1 >= ends[partition_of(message)]:
                remaining.discard(message.partition())
            if group:
                consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()


def redriven_copy(letter: DeadLetter) -> OutgoingMessage:
    """The letter as it goes back to its original topic: its key, value and headers, the
    attempt count kept, where it was redriven from, and naming the letter it copies (so the
    consumer that holds the key behind it recognises it)."""
    headers = {k: v for k, v in letter.headers.items() if not k.startswith(dlq.PREFIX)}
    headers[dlq.ATTEMPTS] = letter.headers.get(dlq.ATTEMPTS, "0")
    headers[dlq.REDRIVEN_FROM] = f"{letter.topic}[{letter.partition}]@{letter.offset}"
    headers[dlq.LETTER] = letter.name
    return OutgoingMessage(letter.original_topic, letter.key or b"", letter.value or b"", headers)


def redrive(
    settings: KafkaSettings, topic: str, on_each: Callable[[DeadLetter], None] | None = None
) -> int:
    """Publish each not yet redriven dead letter back to its original topic, keeping its key,
    headers and attempt count, and naming the letter it copies (so the consumer that holds
    the key behind it recognises it); a group's offsets remember what was redriven. A stub of a
    parked outbox row is no message to redrive: `shopctl outbox retry` republishes its row."""
    publisher = KafkaPublisher(settings)
    count = 0
    for letter, _ in read_dead_letters(settings, topic, group=REDRIVE_GROUP):
        if letter.is_parked_outbox_stub:
            continue
        publisher.publish([redriven_copy(letter)])
        count += 1
        if on_each:
            on_each(letter)
    return count
