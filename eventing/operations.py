"""Operating the event backbone: offsets, consumer lag, replays and dead letters.

What `shopctl` does to Kafka lives here, beside the rest of the Kafka code, so the CLI stays a
thin layer of arguments and tables.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from eventing.config import KafkaSettings
from eventing.delivered import headers_of, offset_of, partition_of
from eventing.errors import EventingError, KafkaUnavailable
from eventing.held import LETTER_HEADER, letter_name
from eventing.kafka_admin import admin_client
from eventing.outbox import PARKED_STUB_HEADER
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import Decoded, EventRegistry
from eventing.topics import DLQ_SUFFIX

REDRIVE_GROUP = "shopctl-dlq-redrive"


class OperationRefused(EventingError):
    """The operation would be unsafe or makes no sense as asked."""


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    end_offset: int
    committed: int | None

    @property
    def lag(self) -> int:
        return self.end_offset - (self.committed if self.committed is not None else 0)


def _result(future, what: str):
    try:
        return future.result(timeout=15)
    except KafkaException as error:
        raise KafkaUnavailable(f"{what}: {error.args[0].str()}") from error


def partitions_of(admin: AdminClient, topic: str) -> list[int]:
    metadata = admin.list_topics(topic=topic, timeout=10)
    if topic not in metadata.topics or metadata.topics[topic].error is not None:
        raise OperationRefused(f"topic {topic} does not exist")
    return sorted(metadata.topics[topic].partitions)


def offsets(admin: AdminClient, topic: str, spec: OffsetSpec) -> dict[int, int]:
    """Per partition: the offset matching `spec` (earliest, latest, or for a timestamp)."""
    request = {TopicPartition(topic, p): spec for p in partitions_of(admin, topic)}
    futures = admin.list_offsets(request)
    return {tp.partition: _result(f, f"offsets of {topic}").offset for tp, f in futures.items()}


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
    result = _result(admin.list_consumer_group_offsets(request)[group], f"offsets of {group}")
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
    listing = _result(admin.list_consumer_groups(), "listing consumer groups")
    return {g.group_id: g.state.name for g in listing.valid}


def group_is_empty(admin: AdminClient, group: str) -> bool:
    description = _result(admin.describe_consumer_groups([group])[group], f"describing {group}")
    return description.state in (ConsumerGroupState.EMPTY, ConsumerGroupState.DEAD) or not (
        description.members
    )


@dataclass(frozen=True)
class ReplayPlan:
    topic: str
    group: str
    new_offsets: dict[int, int]
    current: dict[int, int | None]

    @property
    def messages(self) -> int:
        return sum(max(0, (self.current.get(p) or 0) - o) for p, o in self.new_offsets.items())


def offsets_at(admin: AdminClient, topic: str, at: datetime) -> dict[int, int]:
    """Per partition, the first offset written at or after `at` (the end when none was)."""
    millis = int(at.timestamp() * 1000)
    ends = offsets(admin, topic, OffsetSpec.latest())
    return {
        p: (o if o >= 0 else ends[p])
        for p, o in offsets(admin, topic, OffsetSpec.for_timestamp(millis)).items()
    }


def start_offsets(
    admin: AdminClient,
    topic: str,
    *,
    from_offset: int | None = None,
    from_time: datetime | None = None,
    from_beginning: bool = False,
) -> dict[int, int]:
    """Where a replay of `topic` starts in each partition."""
    if from_beginning:
        return offsets(admin, topic, OffsetSpec.earliest())
    if from_time is not None:
        return offsets_at(admin, topic, from_time)
    if from_offset is not None:
        earliest = offsets(admin, topic, OffsetSpec.earliest())
        return {p: max(from_offset, low) for p, low in earliest.items()}
    raise OperationRefused("say where to replay from")


def plan_replay(
    settings: KafkaSettings,
    topic: str,
    group: str,
    *,
    from_offset: int | None = None,
    from_time: datetime | None = None,
    from_beginning: bool = False,
) -> ReplayPlan:
    """Where the group's offsets on `topic` would move for a replay."""
    admin = admin_client(settings)
    target = start_offsets(
        admin, topic, from_offset=from_offset, from_time=from_time, from_beginning=from_beginning
    )
    current = {
        lag.partition: lag.committed for lag in group_lag(settings, group) if lag.topic == topic
    }
    return ReplayPlan(topic, group, target, current)


@dataclass(frozen=True)
class ReplayWindow:
    """A bounded replay: offsets [start[p], stop[p]) of each partition of `topic`."""

    topic: str
    start: dict[int, int]
    stop: dict[int, int]

    @property
    def messages(self) -> int:
        return sum(max(0, self.stop[p] - self.start.get(p, 0)) for p in self.stop)


def plan_window(
    settings: KafkaSettings,
    topic: str,
    *,
    to_offset: int | None = None,
    to_time: datetime | None = None,
    **start: Any,
) -> ReplayWindow:
    """The window from the start (`from_offset`, `from_time` or `from_beginning`) up to, not
    including, `to_offset` in every partition or the first message written at `to_time`."""
    admin = admin_client(settings)
    begin = start_offsets(admin, topic, **start)
    if to_time is not None:
        stop = offsets_at(admin, topic, to_time)
    elif to_offset is not None:
        ends = offsets(admin, topic, OffsetSpec.latest())
        stop = {p: min(to_offset, end) for p, end in ends.items()}
    else:
        raise OperationRefused("say where the replay stops")
    return ReplayWindow(topic, begin, {p: max(stop[p], begin.get(p, 0)) for p in stop})


def replay_window(
    settings: KafkaSettings,
    window: ReplayWindow,
    handle: Callable[[Decoded], None],
    registry: EventRegistry,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Run each message of the window through `handle` (a consumer's own handler, with its
    inbox), partition by partition in order, without touching any group's offsets. Stops at
    the first message that cannot be applied, saying where."""
    applied = 0
    for messages in read_range(settings, window.topic, window.start, window.stop):
        for message in messages:
            where = f"{window.topic}[{message.partition()}]@{message.offset()}"
            try:
                handle(registry.decode(message.value()))
            except Exception as error:
                raise OperationRefused(f"replay stopped at {where}: {error}") from error
            applied += 1
        if on_progress:
            on_progress(len(messages))
    return applied


def apply_replay(settings: KafkaSettings, plan: ReplayPlan) -> None:
    """Move the group's offsets. Refused while the group has members: their positions would
    overwrite ours; stop the group's consumers first, then start them to replay."""
    admin = admin_client(settings)
    if not group_is_empty(admin, plan.group):
        raise OperationRefused(
            f"consumer group {plan.group} has running members; stop its workers, then replay"
        )
    partitions = [TopicPartition(plan.topic, p, o) for p, o in plan.new_offsets.items()]
    request = [ConsumerGroupTopicPartitions(plan.group, partitions)]
    _result(admin.alter_consumer_group_offsets(request)[plan.group], "moving offsets")


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
        return self.headers.get("dlq.original.topic", self.topic.removesuffix(DLQ_SUFFIX))

    @property
    def reason(self) -> str:
        error_class = self.headers.get("dlq.error.class", "?")
        return f"{error_class}: {self.headers.get('dlq.error.message', '')}"

    @property
    def group(self) -> str | None:
        """The consumer group that dead-lettered it."""
        return self.headers.get("dlq.consumer.group")

    @property
    def name(self) -> str:
        """The letter's name, as the holds of its group know it: where it was taken from."""
        return letter_name(
            self.original_topic,
            int(self.headers.get("dlq.original.partition", -1)),
            int(self.headers.get("dlq.original.offset", -1)),
        )


def dead_letter_topics(settings: KafkaSettings) -> list[str]:
    names = admin_client(settings).list_topics(timeout=10).topics
    prefix = settings.topic_namespace
    return sorted(n for n in names if n.endswith(DLQ_SUFFIX) and n.startswith(prefix))


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
    headers = {k: v for k, v in letter.headers.items() if not k.startswith("dlq.")}
    headers["dlq.attempts"] = letter.headers.get("dlq.attempts", "0")
    headers["dlq.redriven.from"] = f"{letter.topic}[{letter.partition}]@{letter.offset}"
    headers[LETTER_HEADER] = letter.name
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
        if PARKED_STUB_HEADER in letter.headers:
            continue
        publisher.publish([redriven_copy(letter)])
        count += 1
        if on_each:
            on_each(letter)
    return count
