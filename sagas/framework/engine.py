"""The saga state machine: what a reply, a timeout or an operator's retry does to an instance.

Pure: no I/O, no clock (callers pass `now`). Each transition returns the commands to send and
appends entries to the instance's step log; the orchestrator persists both atomically.

    RUNNING --every step succeeded--> COMPLETED
    RUNNING --a step failed or timed out--> COMPENSATING --all undone--> ABORTING --> ABORTED
    COMPENSATING --compensation unanswered after max attempts--> COMPENSATION_FAILED
    COMPENSATION_FAILED --operator retry--> COMPENSATING
    COMPENSATION_FAILED --the awaited compensation's reply, however late--> COMPENSATING/ABORTING

A saga waits for the reply to the last command it sent: the current step's command (RUNNING,
ABORTING) or its compensation (COMPENSATING, and still when parked as COMPENSATION_FAILED: a
timeout gives up on hearing back, not on what the reply would prove). Every reply is one of:

- **the awaited reply**, whenever it comes (after a resend, an operator retry, or parking):
  applied. A compensation's reply proves its step undone, so a parked saga moves on with it.
- **a late failure of a step that timed out**, while that step is being compensated (or its
  compensation is parked): the services record one outcome per order and repeat it, so the
  failure proves the step never took effect and can no longer take effect. It counts as
  undone (logged FAILED) and compensation goes on; the rejection reason stays the timeout's,
  the reason the saga gave up, and the compensation's own reply, when it comes, is ignored.
- **a late success of a step that timed out**: never used. The command was applied after all,
  and its compensation, already sent, undoes it.
- **anything else** (a duplicate, a reply to an earlier copy of a command already answered, a
  reply contradicting a recorded outcome, any reply to an ended saga): recorded in the log as
  REPLY_IGNORED and changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from eventing.registry import Event
from sagas.framework.definition import SagaData, SagaDefinition, Step


class SagaState(StrEnum):
    RUNNING = "RUNNING"
    COMPENSATING = "COMPENSATING"
    ABORTING = "ABORTING"
    COMPLETED = "COMPLETED"
    ABORTED = "ABORTED"
    COMPENSATION_FAILED = "COMPENSATION_FAILED"


ACTIVE_STATES = frozenset({SagaState.RUNNING, SagaState.COMPENSATING, SagaState.ABORTING})
TERMINAL_STATES = frozenset({SagaState.COMPLETED, SagaState.ABORTED})
AWAITING_STATES = ACTIVE_STATES | {SagaState.COMPENSATION_FAILED}
"""States with a step whose reply the saga still needs (a parked saga included)."""
_UNDOING_STATES = frozenset({SagaState.COMPENSATING, SagaState.COMPENSATION_FAILED})


class StepStatus(StrEnum):
    STARTED = "STARTED"
    RETRIED = "RETRIED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    COMPENSATING = "COMPENSATING"
    COMPENSATION_RETRIED = "COMPENSATION_RETRIED"
    COMPENSATED = "COMPENSATED"
    COMPENSATION_FAILED = "COMPENSATION_FAILED"
    REPLY_IGNORED = "REPLY_IGNORED"


_NEEDS_COMPENSATION = {StepStatus.SUCCEEDED, StepStatus.TIMED_OUT}
_FORWARD_OUTCOMES = {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.TIMED_OUT}


class NothingToRetry(Exception):
    """An operator asked to retry a saga that has ended."""


@dataclass(frozen=True)
class LogEntry:
    step: str
    status: StepStatus
    at: datetime
    detail: str = ""


@dataclass
class SagaInstance:
    saga_id: str
    saga_type: str
    key: str
    state: SagaState
    data: SagaData
    current_step: str | None = None
    deadline: datetime | None = None
    attempts: int = 0
    failure_reason: str | None = None
    log: list[LogEntry] = field(default_factory=list)
    version: int = 0
    """Optimistic-concurrency version of the persisted row (0: not stored yet)."""
    new_entries: int = 0
    """How many entries at the end of `log` are not stored yet."""

    def record(self, step: str, status: StepStatus, at: datetime, detail: str = "") -> None:
        self.log.append(LogEntry(step, status, at, detail))
        self.new_entries += 1

    def status_of(self, step: str) -> StepStatus | None:
        for entry in reversed(self.log):
            if entry.step == step and entry.status is not StepStatus.REPLY_IGNORED:
                return entry.status
        return None

    def outcome_of(self, step: str) -> StepStatus | None:
        """How the step's own command ended: SUCCEEDED, FAILED, TIMED_OUT, or None (pending)."""
        for entry in reversed(self.log):
            if entry.step == step and entry.status in _FORWARD_OUTCOMES:
                return entry.status
        return None

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES


Commands = list[Event]


class SagaEngine:
    def __init__(self, definition: SagaDefinition):
        self.definition = definition

    def start(self, saga_id: str, trigger: Event, now: datetime) -> tuple[SagaInstance, Commands]:
        definition = self.definition
        instance = SagaInstance(
            saga_id=saga_id,
            saga_type=definition.name,
            key=definition.key(trigger),
            state=SagaState.RUNNING,
            data=definition.initial_data(trigger),
        )
        return instance, self._send(instance, definition.steps[0], now)

    def on_reply(self, instance: SagaInstance, reply: Event, now: datetime) -> Commands:
        step = self._awaited_step(instance)
        if step is not None and instance.state in _UNDOING_STATES:
            if isinstance(reply, step.compensated_by):
                parked = instance.state is SagaState.COMPENSATION_FAILED
                instance.record(
                    step.name, StepStatus.COMPENSATED, now, "after parking" if parked else ""
                )
                return self._next_compensation(instance, now)
            timed_out = instance.outcome_of(step.name) is StepStatus.TIMED_OUT
            if timed_out and type(reply) in step.failed_by:
                reason = step.failed_by[type(reply)](reply)
                instance.record(
                    step.name,
                    StepStatus.FAILED,
                    now,
                    f"{reason} after the timeout: nothing to undo",
                )
                return self._next_compensation(instance, now)
        elif step is not None and isinstance(reply, step.succeeded_by):
            instance.record(step.name, StepStatus.SUCCEEDED, now)
            if step.remember is not None:
                instance.data.update(step.remember(reply))
            return self._after_success(instance, step, now)
        elif step is not None and type(reply) in step.failed_by:
            reason = step.failed_by[type(reply)](reply)
            instance.record(step.name, StepStatus.FAILED, now, reason)
            instance.failure_reason = reason
            return self._next_compensation(instance, now)
        instance.record(
            self._step_answered_by(reply),
            StepStatus.REPLY_IGNORED,
            now,
            f"{type(reply).__name__} while {instance.state}",
        )
        return []

    def on_timeout(self, instance: SagaInstance, now: datetime) -> Commands:
        step = self._awaited_step(instance)
        if (
            step is None
            or not instance.is_active
            or instance.deadline is None
            or now < instance.deadline
        ):
            return []
        if instance.state is SagaState.COMPENSATING:
            if instance.attempts >= self.definition.max_compensation_attempts:
                instance.state = SagaState.COMPENSATION_FAILED
                instance.deadline = None
                instance.record(
                    step.name,
                    StepStatus.COMPENSATION_FAILED,
                    now,
                    f"unanswered after {instance.attempts} attempts",
                )
                return []
            return self._resend(instance, step, now, StepStatus.COMPENSATION_RETRIED)
        if step.retriable:
            return self._resend(instance, step, now, StepStatus.RETRIED)
        instance.record(
            step.name, StepStatus.TIMED_OUT, now, f"no reply within {step.timeout_s:g}s"
        )
        instance.failure_reason = self.definition.timeout_reason
        return self._next_compensation(instance, now)

    def retry(self, instance: SagaInstance, now: datetime) -> Commands:
        """An operator's retry: send the awaited command again with fresh attempts."""
        if instance.state is SagaState.COMPENSATION_FAILED:
            instance.state = SagaState.COMPENSATING
        step = self._awaited_step(instance)
        if step is None:
            raise NothingToRetry(f"saga {instance.saga_id} is {instance.state}")
        instance.attempts = 0
        status = (
            StepStatus.COMPENSATION_RETRIED
            if instance.state is SagaState.COMPENSATING
            else StepStatus.RETRIED
        )
        return self._resend(instance, step, now, status, detail="operator retry")

    def _awaited_step(self, instance: SagaInstance) -> Step | None:
        if instance.state not in AWAITING_STATES or instance.current_step is None:
            return None
        return self.definition.step(instance.current_step)

    def _step_answered_by(self, reply: Event) -> str:
        for step in self.definition.all_steps():
            if isinstance(reply, (*step.succeeded_by, *step.failed_by, *step.compensated_by)):
                return step.name
        return "-"

    def _after_success(self, instance: SagaInstance, step: Step, now: datetime) -> Commands:
        if instance.state is SagaState.ABORTING:
            return self._finish(instance, SagaState.ABORTED)
        steps = self.definition.steps
        index = steps.index(step)
        if index + 1 < len(steps):
            return self._send(instance, steps[index + 1], now)
        return self._finish(instance, SagaState.COMPLETED)

    def _next_compensation(self, instance: SagaInstance, now: datetime) -> Commands:
        for step in reversed(self.definition.steps):
            if (
                step.compensation is not None
                and instance.status_of(step.name) in _NEEDS_COMPENSATION
            ):
                instance.state = SagaState.COMPENSATING
                return self._send(instance, step, now, compensating=True)
        if self.definition.on_abort is None:
            return self._finish(instance, SagaState.ABORTED)
        instance.state = SagaState.ABORTING
        instance.data["failure_reason"] = instance.failure_reason
        return self._send(instance, self.definition.on_abort, now)

    def _send(
        self, instance: SagaInstance, step: Step, now: datetime, *, compensating: bool = False
    ) -> Commands:
        instance.current_step = step.name
        instance.attempts = 1
        instance.deadline = now + timedelta(seconds=step.timeout_s)
        instance.record(
            step.name, StepStatus.COMPENSATING if compensating else StepStatus.STARTED, now
        )
        return [self._command(instance, step)]

    def _resend(
        self,
        instance: SagaInstance,
        step: Step,
        now: datetime,
        status: StepStatus,
        detail: str = "",
    ) -> Commands:
        instance.attempts += 1
        backoff = min(
            self.definition.retry_max_delay_s,
            self.definition.retry_base_delay_s * 2 ** (instance.attempts - 1),
        )
        instance.deadline = now + timedelta(seconds=step.timeout_s + backoff)
        instance.record(step.name, status, now, detail or f"attempt {instance.attempts}")
        return [self._command(instance, step)]

    def _command(self, instance: SagaInstance, step: Step) -> Event:
        if instance.state is SagaState.COMPENSATING:
            assert step.compensation is not None
            return step.compensation(instance.data)
        return step.command(instance.data)

    @staticmethod
    def _finish(instance: SagaInstance, state: SagaState) -> Commands:
        instance.state = state
        instance.current_step = None
        instance.deadline = None
        return []
