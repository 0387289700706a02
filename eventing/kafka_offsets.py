"""Where Kafka's partitions stand, asked of the broker: offsets, a topic's extent, consumer
groups, their states and their lag. Nothing here reads a message or moves an offset.

Topic and group names are the broker's (qualified with the settings' namespace), as the broker
answers with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from eventing.config import KafkaSettings
from eventing.errors import OperationRefused
from eventing.kafka_admin import admin_client, admin_result


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    end_offset: int
    committed: int | None

    @property
    def lag(self) -> int:
        return self.end_offset - (self.committed if self.committed is not None else 0)


def partitions_of(admin: AdminClient, topic: str) -> list[int]:
    metadata = admin.list_topics(topic=topic, timeout=10)
    if topic not in metadata.topics or metadata.topics[topic].error is not None:
        raise OperationRefused(f"topic {topic} does not exist")
    return sorted(metadata.topics[topic].partitions)


def offsets(admin: AdminClient, topic: str, spec: OffsetSpec) -> dict[int, int]:
    """Per partition: the offset matching `spec` (earliest, latest, or for a timestamp)."""
    request = {TopicPartition(topic, p): spec for p in partitions_of(admin, topic)}
    futures = admin.list_offsets(request)
    return {
        tp.partition: admin_result(f, f"offsets of {topic}").offset for tp, f in futures.items()
    }


def offsets_at(admin: AdminClient, topic: str, at: datetime) -> dict[int, int]:
    """Per partition, the first offset written at or after `at` (the end when none was)."""
    millis = int(at.timestamp() * 1000)
    ends = offsets(admin, topic, OffsetSpec.latest())
    return {
        p: (o if o >= 0 else ends[p])
        for p, o in offsets(admin, topic, OffsetSpec.for_timestamp(millis)).items()
    }


@dataclass(frozen=True)
class TopicExtent:
    """Where a topic's partitions begin and end: what it retains and has ever held."""

    earliest: dict[int, int]
    latest: dict[int, int]

    @property
    def retained(self) -> int:
        return sum(self.latest[p] - self.earliest.get(p, 0) for p in self.latest)

    @property
    def written(self) -> int:
        return sum(self.latest.values())


def topic_extent(admin: AdminClient, topic: str) -> TopicExtent:
    return TopicExtent(
        earliest=offsets(admin, topic, OffsetSpec.earliest()),
        latest=offsets(admin, topic, OffsetSpec.latest()),
    )


def end_offsets(settings: KafkaSettings, topics: list[str]) -> dict[str, dict[int, int]]:
    admin = admin_client(settings)
    return {topic: offsets(admin, topic, OffsetSpec.latest()) for topic in topics}


def group_lag(settings: KafkaSettings, group: str) -> list[PartitionLag]:
    admin = admin_client(settings)
    request = [ConsumerGroupTopicPartitions(group)]
    result = admin_result(admin.list_consumer_group_offsets(request)[group], f"offsets of {group}")
    committed = {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions}
    lags = []
    for topic in sorted({t for t, _ in committed}):
        for partition, end in offsets(admin, topic, OffsetSpec.latest()).items():
            offset = committed.get((topic, partition))
            lags.append(
                PartitionLag(
                    topic, partition, end, offset if offset is not None and offset >= 0 else None
                )
            )
    return lags


def consumer_groups(settings: KafkaSettings) -> dict[str, str]:
    """Every consumer group and its state (STABLE, EMPTY, ...)."""
    admin = admin_client(settings)
    listing = admin_result(admin.list_consumer_groups(), "listing consumer groups")
    return {g.group_id: g.state.name for g in listing.valid}


def group_is_empty(admin: AdminClient, group: str) -> bool:
    description = admin_result(
        admin.describe_consumer_groups([group])[group], f"describing {group}"
    )
    return description.state in (ConsumerGroupState.EMPTY, ConsumerGroupState.DEAD) or not (
        description.members
    )
