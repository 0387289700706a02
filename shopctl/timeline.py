"""A saga drawn against its definition: every step with what happened to it so far, and what is
still to come. Pure (no I/O, no clock): `shopctl sagas show` prints it, the console draws it.

The step log alone only tells the past; the definition adds the future: the step in flight with
its deadline, the steps still to run, and the compensations a failure would run (or is running).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sagas.framework.definition import SagaDefinition, Step
from sagas.framework.engine import LogEntry, SagaInstance, SagaState, StepStatus


class Phase(StrEnum):
    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    IN_FLIGHT = "in flight"
    TO_COME = "to come"
    SKIPPED = "skipped"
    """Never run: the saga ended (or turned to compensating) before reaching it."""
    COMPENSATED = "compensated"
    COMPENSATING = "compensating"
    PARKED = "parked"
    """Its compensation went unanswered too often: an operator's retry is awaited."""
    PENDING = "pending"
    """A compensation that will run once the ones after it are done."""
    NOT_NEEDED = "not needed"


_FINISHED = {
    StepStatus.SUCCEEDED: Phase.DONE,
    StepStatus.FAILED: Phase.FAILED,
    StepStatus.TIMED_OUT: Phase.TIMED_OUT,
}
_NEEDS_COMPENSATION = {StepStatus.SUCCEEDED, StepStatus.TIMED_OUT}


@dataclass(frozen=True)
class TimelineStep:
    name: str
    phase: Phase
    started_at: datetime | None = None
    finished_at: datetime | None = None
    deadline: datetime | None = None
    """When the step in flight times out (or is resent, past the point of no return)."""
    attempts: int = 0
    detail: str = ""
    retriable: bool = False

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


@dataclass(frozen=True)
class Timeline:
    steps: tuple[TimelineStep, ...]
    compensations: tuple[TimelineStep, ...]
    """One per compensatable step, in the order they run (last step first)."""
    on_abort: TimelineStep | None

    @property
    def in_flight(self) -> TimelineStep | None:
        for step in (*self.steps, *self.compensations, self.on_abort):
            if step is not None and step.phase in (Phase.IN_FLIGHT, Phase.COMPENSATING):
                return step
        return None


def _entries(instance: SagaInstance, step: str, statuses: set[StepStatus]) -> list[LogEntry]:
    return [e for e in instance.log if e.step == step and e.status in statuses]


def _forward(instance: SagaInstance, step: Step, *, reached_compensation: bool) -> TimelineStep:
    started = _entries(instance, step.name, {StepStatus.STARTED})
    retried = _entries(instance, step.name, {StepStatus.RETRIED})
    finished = _entries(instance, step.name, set(_FINISHED))
    start = started[0].at if started else None
    if finished:
        last = finished[-1]
        return TimelineStep(
            step.name,
            _FINISHED[last.status],
            started_at=start,
            finished_at=last.at,
            attempts=1 + len(retried),
            detail=last.detail,
            retriable=step.retriable,
        )
    if started and instance.current_step == step.name and instance.is_active:
        return TimelineStep(
            step.name,
            Phase.IN_FLIGHT,
            started_at=start,
            deadline=instance.deadline,
            attempts=max(instance.attempts, 1 + len(retried)),
            detail=retried[-1].detail if retried else "",
            retriable=step.retriable,
        )
    ended = not instance.is_active or reached_compensation
    return TimelineStep(
        step.name, Phase.SKIPPED if ended else Phase.TO_COME, retriable=step.retriable
    )


def _compensation(instance: SagaInstance, step: Step) -> TimelineStep:
    begun = _entries(instance, step.name, {StepStatus.COMPENSATING})
    retried = _entries(instance, step.name, {StepStatus.COMPENSATION_RETRIED})
    start = begun[0].at if begun else None
    attempts = len(begun) + len(retried)
    compensated = _entries(instance, step.name, {StepStatus.COMPENSATED})
    if compensated:
        return TimelineStep(
            step.name, Phase.COMPENSATED, start, compensated[-1].at, attempts=attempts
        )
    if begun and instance.current_step == step.name:
        if instance.state is SagaState.COMPENSATION_FAILED:
            failed = _entries(instance, step.name, {StepStatus.COMPENSATION_FAILED})
            detail = failed[-1].detail if failed else ""
            return TimelineStep(step.name, Phase.PARKED, start, attempts=attempts, detail=detail)
        if instance.state is SagaState.COMPENSATING:
            return TimelineStep(
                step.name,
                Phase.COMPENSATING,
                start,
                deadline=instance.deadline,
                attempts=max(instance.attempts, attempts),
            )
    compensating = instance.state in (SagaState.COMPENSATING, SagaState.COMPENSATION_FAILED)
    if compensating and instance.status_of(step.name) in _NEEDS_COMPENSATION:
        return TimelineStep(step.name, Phase.PENDING)
    return TimelineStep(step.name, Phase.NOT_NEEDED)


def build_timeline(definition: SagaDefinition, instance: SagaInstance) -> Timeline:
    compensation_started = any(
        e.status in (StepStatus.COMPENSATING, StepStatus.FAILED, StepStatus.TIMED_OUT)
        for e in instance.log
    )
    steps = tuple(
        _forward(instance, step, reached_compensation=compensation_started)
        for step in definition.steps
    )
    compensations = tuple(
        _compensation(instance, step)
        for step in reversed(definition.steps)
        if step.compensation is not None
    )
    on_abort = None
    if definition.on_abort is not None and (
        compensation_started or instance.state in (SagaState.ABORTING, SagaState.ABORTED)
    ):
        on_abort = _forward(instance, definition.on_abort, reached_compensation=False)
        awaiting = instance.is_active or instance.state is SagaState.COMPENSATION_FAILED
        if on_abort.phase is Phase.SKIPPED and awaiting:
            on_abort = TimelineStep(on_abort.name, Phase.TO_COME, retriable=True)
    return Timeline(steps, compensations, on_abort)
