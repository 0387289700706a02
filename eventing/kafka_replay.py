"""Replaying a topic from Kafka: moving a stopped group's offsets back (`shopctl replay`), or
running a bounded window of offsets through a consumer's own handler without touching any
group's offsets (`shopctl replay --to-...`).

Topic and group names are the broker's (qualified with the settings' namespace).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from eventing.config import KafkaSettings
from eventing.errors import OperationRefused
from eventing.kafka_admin import admin_client, admin_result
from eventing.kafka_offsets import group_is_empty, group_lag, offsets, offsets_at
from eventing.kafka_reading import read_range
from eventing.registry import Decoded, EventRegistry


@dataclass(frozen=True)
class ReplayPlan:
    topic: str
    group: str
    new_offsets: dict[int, int]
    current: dict[int, int | None]

    @property
    def messages(self) -> int:
        return sum(max(0, (self.current.get(p) or 0) - o) for p, o in self.new_offsets.items())


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
    admin_result(admin.alter_consumer_group_offsets(request)[plan.group], "moving offsets")


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
