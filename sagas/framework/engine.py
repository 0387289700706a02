"""The saga state machine: what a reply, a timeout or an operator's retry does to an instance.

Pure: no I/O, no clock (callers pass `now`). Each transition returns the commands to send and
appends entries to the instance's step log; the orchestrator persists both atomically.

    RUNNING --every step succeeded--> COMPLETED
    RUNNING --a step failed, or timed out its retry policy--> COMPENSATING --all undone-->
        ABORTING --> ABORTED
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

A command may be sent several times (its step's `RetryPolicy`, a compensation's resends, an
operator's retry): every copy is the same command, so a reply to any copy is the awaited reply,
and the answers to the other copies are the duplicates above. An attempt that times out is
followed by a pause (`backing_off`), then the next copy; a reply during the pause is the awaited
reply all the same. A compensatable step whose policy is exhausted (attempts, or its overall
`step_deadline`) times out and is compensated; a failure reply (`failed_by`) is final at once.

Deadlines count from when a command *left*: the orchestrator's store knows when the relay
published it (the outbox), so `on_timeout` is told how long the awaited copy waited to be sent
(`sent_after`) and the attempt's deadline moves by as much; the engine itself never asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from eventing.registry import Event
from sagas.framework.definition import RetryPolicy, SagaData, SagaDefinition, Step


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
    """When the awaited attempt times out (reckoned as if its command left when it was
    written: see `on_timeout`), or, while `backing_off`, when the next copy is sent."""
    attempts: int = 0
    """Copies of the awaited command sent so far."""
    backing_off: bool = False
    """The last copy went unanswered: the saga pauses until `deadline`, then sends another."""
    step_deadline: datetime | None = None
    """When the step in flight is given up whatever attempts it has left (None: no bound);
    moved later by the time its copies waited in the outbox."""
    awaited_command_id: str | None = None
    """The event id of the copy whose publish starts the clock of `deadline` (None: the
    deadline is absolute, as during a pause). The orchestrator sets it; the engine never reads
    it, and clears it whenever the deadline stops depending on that copy."""
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

    def on_timeout(
        self, instance: SagaInstance, now: datetime, *, sent_after: timedelta = timedelta(0)
    ) -> Commands:
        """The awaited attempt's time is up: send another copy (after a pause), or give up.

        `sent_after` is how long the awaited copy waited in the outbox before it was published:
        the attempt's clock, and the step's, start when it left. Nothing happens before
        `deadline + sent_after`."""
        step = self._awaited_step(instance)
        if step is None or not instance.is_active or instance.deadline is None:
            return []
        if instance.backing_off:
            return [] if now < instance.deadline else self._resend(instance, step, now)
        if now < instance.deadline + sent_after:
            return []
        if instance.step_deadline is not None:
            instance.step_deadline += sent_after
        policy = self._policy(instance, step)
        if not self._gives_up(instance, policy, now):
            return self._pause(instance, policy, now)
        if instance.state is SagaState.COMPENSATING:
            instance.state = SagaState.COMPENSATION_FAILED
            self._stop_waiting(instance)
            instance.record(
                step.name,
                StepStatus.COMPENSATION_FAILED,
                now,
                f"unanswered after {instance.attempts} attempts",
            )
            return []
        instance.record(step.name, StepStatus.TIMED_OUT, now, self._timed_out(instance, step))
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
        instance.step_deadline = self._step_deadline(self._policy(instance, step), now)
        return self._resend(instance, step, now, detail="operator retry")

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

    def _policy(self, instance: SagaInstance, step: Step) -> RetryPolicy:
        if instance.state is SagaState.COMPENSATING:
            return self.definition.compensation_retry
        return step.retry

    @staticmethod
    def _step_deadline(policy: RetryPolicy, now: datetime) -> datetime | None:
        return None if policy.deadline_s is None else now + timedelta(seconds=policy.deadline_s)

    @staticmethod
    def _gives_up(instance: SagaInstance, policy: RetryPolicy, now: datetime) -> bool:
        """Attempts used up, or the next copy could only go at or past the step's deadline."""
        if policy.exhausted(instance.attempts):
            return True
        if instance.step_deadline is None:
            return False
        pause = policy.backoff_s(instance.saga_id, instance.attempts + 1)
        return now + timedelta(seconds=pause) >= instance.step_deadline

    @staticmethod
    def _timed_out(instance: SagaInstance, step: Step) -> str:
        if step.retry.exhausted(instance.attempts) and instance.attempts > 1:
            return f"no reply to {instance.attempts} attempts of {step.timeout_s:g}s"
        if step.retry.exhausted(instance.attempts):
            return f"no reply within {step.timeout_s:g}s"
        return f"no reply within the step's {step.retry.deadline_s:g}s"

    def _pause(self, instance: SagaInstance, policy: RetryPolicy, now: datetime) -> Commands:
        pause = policy.backoff_s(instance.saga_id, instance.attempts + 1)
        instance.backing_off = True
        instance.deadline = now + timedelta(seconds=pause)
        instance.awaited_command_id = None
        return []

    def _send(
        self, instance: SagaInstance, step: Step, now: datetime, *, compensating: bool = False
    ) -> Commands:
        instance.current_step = step.name
        instance.attempts = 0
        instance.step_deadline = self._step_deadline(self._policy(instance, step), now)
        instance.record(
            step.name, StepStatus.COMPENSATING if compensating else StepStatus.STARTED, now
        )
        return self._send_copy(instance, step, now)

    def _resend(
        self, instance: SagaInstance, step: Step, now: datetime, detail: str = ""
    ) -> Commands:
        status = (
            StepStatus.COMPENSATION_RETRIED
            if instance.state is SagaState.COMPENSATING
            else StepStatus.RETRIED
        )
        commands = self._send_copy(instance, step, now)
        instance.record(step.name, status, now, detail or f"attempt {instance.attempts}")
        return commands

    def _send_copy(self, instance: SagaInstance, step: Step, now: datetime) -> Commands:
        """One more copy of the step's command (or compensation), awaited for `timeout_s`."""
        instance.attempts += 1
        instance.backing_off = False
        instance.deadline = now + timedelta(seconds=step.timeout_s)
        instance.awaited_command_id = None
        return [self._command(instance, step)]

    @staticmethod
    def _stop_waiting(instance: SagaInstance) -> None:
        instance.deadline = None
        instance.step_deadline = None
        instance.backing_off = False
        instance.awaited_command_id = None

    def _command(self, instance: SagaInstance, step: Step) -> Event:
        if instance.state is SagaState.COMPENSATING:
            assert step.compensation is not None
            return step.compensation(instance.data)
        return step.command(instance.data)

    def _finish(self, instance: SagaInstance, state: SagaState) -> Commands:
        instance.state = state
        instance.current_step = None
        self._stop_waiting(instance)
        return []
