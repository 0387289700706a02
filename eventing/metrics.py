"""The event backbone's metrics: what consumers did with their messages (counters the consumer
adds to), and gauges that read state when the meter provider collects (every
`OTEL_METRIC_EXPORT_INTERVAL`): an outbox's backlog and the age of its oldest unpublished row,
a consumer group's lag per partition.

Attributes follow the OpenTelemetry messaging conventions (`messaging.system`,
`messaging.consumer.group.name`, `messaging.destination.name`,
`messaging.destination.partition.id`); group and topic names are as Kafka knows them, with the
topic namespace when there is one.

A gauge's reading runs in the metric reader's thread. It suppresses instrumentation, so its
queries make no spans (a trace every export interval would bury the shop's own in Jaeger), and
a reading that fails (the database or the broker down) is logged and reports nothing for that
interval: the gap is what an operator sees, and the other metrics still go out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.metrics import CallbackOptions, Observation
from sqlalchemy import Engine, Table

from eventing.config import KafkaSettings
from eventing.envelope import utc_now

log = logging.getLogger(__name__)
_meter = metrics.get_meter("eventing")

Reading = Callable[[], Iterable[tuple[float, dict[str, Any]]]]
"""Reads the current values: a (value, attributes) pair per series."""


def observed(name: str, read: Reading) -> Callable[[CallbackOptions], Iterable[Observation]]:
    """An observable instrument's callback running `read`, without spans, logging a failure."""

    def callback(_options: CallbackOptions) -> Iterable[Observation]:
        try:
            with suppress_instrumentation():
                return [Observation(value, attributes) for value, attributes in read()]
        except Exception as error:
            log.warning("reading %s failed: %s: %s", name, type(error).__name__, error)
            return []

    return callback


def register_gauge(
    meter_name: str, name: str, *, unit: str, description: str, read: Reading
) -> None:
    """An observable gauge `name` whose values `read` gives at each collection."""
    metrics.get_meter(meter_name).create_observable_gauge(
        name, callbacks=[observed(name, read)], unit=unit, description=description
    )


_processed = _meter.create_counter(
    "consumer.messages.processed",
    unit="{message}",
    description="messages a consumer group applied (its handler succeeded)",
)
_retried = _meter.create_counter(
    "consumer.messages.retried",
    unit="{message}",
    description="attempts that failed and will be tried again after a backoff",
)
_dead_lettered = _meter.create_counter(
    "consumer.messages.dead_lettered",
    unit="{message}",
    description="messages a consumer group gave up on and sent to the topic's dead-letter topic",
)


def _consumed(group: str, topic: str) -> dict[str, str]:
    return {
        "messaging.system": "kafka",
        "messaging.consumer.group.name": group,
        "messaging.destination.name": topic,
    }


def message_processed(group: str, topic: str) -> None:
    _processed.add(1, _consumed(group, topic))


def message_retried(group: str, topic: str) -> None:
    _retried.add(1, _consumed(group, topic))


def message_dead_lettered(group: str, topic: str) -> None:
    _dead_lettered.add(1, _consumed(group, topic))


def outbox_state(engine: Engine, table: Table) -> tuple[int, float]:
    """How many outbox rows wait for a relay (held ones included, parked ones not), and how
    many seconds the oldest of them has waited (0 when none)."""
    from eventing.outbox_admin import backlog

    waiting, oldest = backlog(engine, table)
    age = (utc_now() - oldest).total_seconds() if oldest is not None else 0.0
    return waiting, max(age, 0.0)


def register_outbox_gauges(engine: Engine, table: Table) -> None:
    """`outbox.backlog` and `outbox.oldest_unpublished.age` (see `outbox_state`); the
    service is the metrics' `job`."""
    register_gauge(
        "eventing.outbox",
        "outbox.backlog",
        unit="{row}",
        description="outbox rows written and not yet published (parked rows not counted)",
        read=lambda: [(outbox_state(engine, table)[0], {})],
    )
    register_gauge(
        "eventing.outbox",
        "outbox.oldest_unpublished.age",
        unit="s",
        description="seconds since the oldest unpublished outbox row was written; 0 when none",
        read=lambda: [(outbox_state(engine, table)[1], {})],
    )


def group_lag_readings(settings: KafkaSettings, group: str) -> list[tuple[float, dict[str, Any]]]:
    """Per partition of every topic `group` has committed on: the partition's end offset
    minus the group's committed offset (what the group has yet to process)."""
    from eventing.kafka_offsets import group_lag

    qualified = settings.qualify(group)
    return [
        (
            lag.lag,
            _consumed(qualified, lag.topic)
            | {"messaging.destination.partition.id": str(lag.partition)},
        )
        for lag in group_lag(settings, qualified)
    ]


def register_consumer_lag_gauge(settings: KafkaSettings, group: str) -> None:
    """`kafka.consumer_group.lag`: `group_lag_readings` at each collection. Read from the
    broker, so every worker of a group reports the same values (one `instance` each):
    aggregate with `max`."""
    register_gauge(
        "eventing.consumer",
        "kafka.consumer_group.lag",
        unit="{message}",
        description="messages of a partition the consumer group has not yet committed",
        read=lambda: group_lag_readings(settings, group),
    )
