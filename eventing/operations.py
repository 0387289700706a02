"""Former home of the backbone's operations, now split by concern; kept so that code not yet
moved to the new modules still imports. Import from the modules themselves:

- `eventing.kafka_offsets`: offsets, extents, consumer groups and their lag;
- `eventing.kafka_reading`: reading a range of offsets without a group;
- `eventing.kafka_replay`: replay plans and windows, and applying them;
- `eventing.kafka_dead_letters`: reading and redriving dead letters.

Delete this module once nothing imports it (`grep -rn eventing.operations`).
"""

from __future__ import annotations

from eventing.errors import OperationRefused
from eventing.kafka_dead_letters import (
    REDRIVE_GROUP,
    DeadLetter,
    dead_letter_topics,
    read_dead_letters,
    redrive,
    redriven_copy,
)
from eventing.kafka_offsets import (
    PartitionLag,
    TopicExtent,
    consumer_groups,
    end_offsets,
    group_is_empty,
    group_lag,
    offsets,
    offsets_at,
    partitions_of,
    topic_extent,
)
from eventing.kafka_reading import read_range
from eventing.kafka_replay import (
    ReplayPlan,
    ReplayWindow,
    apply_replay,
    plan_replay,
    plan_window,
    replay_window,
    start_offsets,
)

__all__ = [
    "REDRIVE_GROUP",
    "DeadLetter",
    "OperationRefused",
    "PartitionLag",
    "ReplayPlan",
    "ReplayWindow",
    "TopicExtent",
    "apply_replay",
    "consumer_groups",
    "dead_letter_topics",
    "end_offsets",
    "group_is_empty",
    "group_lag",
    "offsets",
    "offsets_at",
    "partitions_of",
    "plan_replay",
    "plan_window",
    "read_dead_letters",
    "read_range",
    "redrive",
    "redriven_copy",
    "replay_window",
    "start_offsets",
    "topic_extent",
]
