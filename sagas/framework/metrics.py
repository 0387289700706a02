"""The sagas' metrics besides the orchestrator's own counters (`saga.ended`,
`saga.compensation_failed`): how long a saga took from its start to its end, by type and
outcome, and how many are in flight, by type and state (a gauge read from `saga_instances`
at each collection; a parked saga counts under `COMPENSATION_FAILED` until it is resolved)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics
from sqlalchemy import Engine, Table, func, select

from eventing.metrics import register_gauge
from sagas.framework.engine import AWAITING_STATES, SagaInstance

_durations = metrics.get_meter("sagas").create_histogram(
    "saga.duration",
    unit="s",
    description="time from a saga's start to its end state, by type and end state",
)


def saga_ended(instance: SagaInstance) -> None:
    """Record an ended saga's duration: from its first log entry to its last."""
    if instance.log:
        took = (instance.log[-1].at - instance.log[0].at).total_seconds()
        _durations.record(
            max(took, 0.0), {"saga.type": instance.saga_type, "saga.state": instance.state.value}
        )


def sagas_in_flight(
    engine: Engine, instances: Table, saga_types: Iterable[str]
) -> list[tuple[float, dict[str, Any]]]:
    """Sagas not ended, per type and state: every (type, state) of `saga_types` and the
    states not ended, 0 when none, so a state's series does not vanish when its last saga
    moves on."""
    states = sorted(state.value for state in AWAITING_STATES)
    query = (
        select(instances.c.saga_type, instances.c.state, func.count())
        .where(instances.c.state.in_(states))
        .group_by(instances.c.saga_type, instances.c.state)
    )
    with engine.connect() as connection:
        counts = {(t, s): n for t, s, n in connection.execute(query)}
    every = {(t, s) for t in saga_types for s in states} | set(counts)
    return [
        (counts.get(key, 0), {"saga.type": key[0], "saga.state": key[1]}) for key in sorted(every)
    ]


def register_in_flight_gauge(engine: Engine, instances: Table, saga_types: Iterable[str]) -> None:
    """`saga.active`: `sagas_in_flight` at each collection."""
    types = sorted(saga_types)
    register_gauge(
        "sagas",
        "saga.active",
        unit="{saga}",
        description="sagas not yet ended, by type and state (COMPENSATION_FAILED: parked)",
        read=lambda: sagas_in_flight(engine, instances, types),
    )
