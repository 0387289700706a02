"""Reading a range of a topic's offsets from Kafka without joining a consumer group: what a
replay, the audit log and a search rebuild read.

Topic names are the broker's (qualified with the settings' namespace).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping

from confluent_kafka import Consumer, Message, TopicPartition

from eventing.config import KafkaSettings
from eventing.delivered import offset_of, partition_of
from eventing.errors import KafkaUnavailable


def read_range(
    settings: KafkaSettings,
    topic: str,
    start: Mapping[int, int],
    stop: Mapping[int, int],
    *,
    batch: int = 1000,
    stall_timeout_s: float = 30.0,
) -> Iterator[list[Message]]:
    """The messages of `topic` at offsets [start.get(p, 0), stop[p]) of each partition in
    `stop`, in batches, each partition in order; no consumer group is joined or committed.
    Raises KafkaUnavailable when nothing arrives for `stall_timeout_s` while some is missing."""
    pending = {p for p in stop if start.get(p, 0) < stop[p]}
    if not pending:
        return
    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": f"read-range-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in pending])
    last_progress = time.monotonic()
    try:
        while pending:
            wanted = []
            for message in consumer.consume(batch, timeout=1):
                partition = partition_of(message)
                if message.error() or partition not in pending:
                    continue
                if offset_of(message) < stop[partition]:
                    wanted.append(message)
                if offset_of(message) + 1 >= stop[partition]:
                    pending.discard(partition)
            if wanted:
                last_progress = time.monotonic()
                yield wanted
            elif time.monotonic() - last_progress > stall_timeout_s:
                raise KafkaUnavailable(f"reading {topic} stalled with partitions {pending} unread")
    finally:
        consumer.close()
