"""Runs saga definitions against messages and the clock, persisting every step.

The orchestrator's message entry points are use cases of the dispatcher's table
(`use_cases`): a starter event starts a saga, a reply advances the saga its correlation id
names. The dispatcher owns their unit of work (inbox claim, the saga row, version checked, its
new log entries, the commands and progress event in the outbox, one commit); the timeout pass
and an operator's retry, which have no message in hand, open their own. Commands carry the
saga id as their correlation id, and services answer with it, so a reply finds its saga
without guessing.

A step may be *local* (`local_steps`): one the orchestrator's own service applies, in the
saga's own database. Its command is then run in the same unit of work as the transition that
sent it, and its reply fed back at once, instead of a command and a reply crossing Kafka (the
checkout saga approves its order this way: it lives in the order service's database). A local
step is one past the point of no return, never the first: its reply is never awaited from a
topic.

The saga row remembers the event id of the command it awaits (fixed before the row is
written), so the timeout loop can count each deadline from when the relay published that
command (`SagaStore.due`); a command that stays unpublished past `unsent_alert_s` is reported
to an operator (an error log line and the `saga.commands_unsent` counter, once per saga and
command), never rejected for it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider

from eventing.db_errors import translate_db_errors
from eventing.envelope import utc_now
from eventing.errors import EventingError
from eventing.registry import Event
from sagas.framework.definition import SagaDefinition
from sagas.framework.engine import SagaEngine, SagaInstance, SagaState, StepStatus
from sagas.framework.metrics import saga_ended
from sagas.framework.ports import SagaUnitOfWork, UnsentCommand
from servicekit.dispatch import UseCase

log = logging.getLogger(__name__)
tracer = trace.get_tracer("sagas")
ProgressEvent = Callable[[SagaInstance, int], Event]
"""Builds the event announcing a saga's new state (given a strictly growing version)."""


Transition = Callable[[SagaInstance], list[Event]]
LocalStep = Callable[[Any, Any], Event]
"""`step(uow, command)`: applies a local step's command in the saga's unit of work (of the
service's own type) and returns the step's reply, the same for a command applied before (an
order already approved answers OrderApproved again)."""
_RUNS_FORWARD = frozenset({SagaState.RUNNING, SagaState.ABORTING})


class Orchestrator:
    def __init__(
        self,
        definitions: Iterable[SagaDefinition],
        *,
        uow_factory: Callable[[], SagaUnitOfWork],
        progress_event: ProgressEvent | None = None,
        local_steps: Mapping[str, LocalStep] | None = None,
        clock: Callable[[], datetime] = utc_now,
        unsent_alert_s: float = 300.0,
        unsent_check_every_s: float = 5.0,
        meter_provider: MeterProvider | None = None,
    ):
        self.engines = {d.name: SagaEngine(d) for d in definitions}
        self.starters = {d.started_by: d for d in self.definitions}
        self.local_steps = dict(local_steps or {})
        self.reply_types = self._remote_reply_types()
        self.uow_factory = uow_factory
        self.progress_event = progress_event
        self.clock = clock
        self.unsent_alert = timedelta(seconds=unsent_alert_s)
        self.unsent_check_every_s = unsent_check_every_s
        meter = metrics.get_meter("sagas", meter_provider=meter_provider)
        self._compensation_failures = meter.create_counter(
            "saga.compensation_failed",
            description="sagas parked because a compensation went unanswered",
        )
        self._sagas_ended = meter.create_counter(
            "saga.ended", description="sagas that reached an end state"
        )
        self._commands_unsent = meter.create_counter(
            "saga.commands_unsent",
            description="sagas whose awaited command stayed in the outbox past the unsent bound",
        )

    @property
    def definitions(self) -> list[SagaDefinition]:
        return [engine.definition for engine in self.engines.values()]

    def _remote_reply_types(self) -> set[type[Event]]:
        """The replies awaited from topics: those of every step that is not local."""
        known = {step.name for d in self.definitions for step in d.all_steps()}
        if unknown := set(self.local_steps) - known:
            raise ValueError(f"local steps of no saga: {', '.join(sorted(unknown))}")
        types: set[type[Event]] = set()
        for definition in self.definitions:
            if definition.steps[0].name in self.local_steps:
                raise ValueError(f"saga {definition.name}: its first step cannot be local")
            for step in definition.all_steps():
                if step.name not in self.local_steps:
                    types.update(step.succeeded_by, step.failed_by, step.compensated_by)
                elif not step.retriable:
                    raise ValueError(f"step {step.name}: only a retriable step can be local")
        return types

    def use_cases(self) -> dict[type[Event], UseCase[SagaUnitOfWork]]:
        """The dispatcher's table: each definition's starter starts a saga (a starter wins
        over a reply of the same type), every reply any step awaits advances one."""
        table: dict[type[Event], UseCase[SagaUnitOfWork]] = dict.fromkeys(
            self.reply_types, self.advance
        )
        table.update(dict.fromkeys(self.starters, self.start))
        return table

    def start(self, uow: SagaUnitOfWork, trigger: Event) -> None:
        """A starter event: a new saga for its business key, unless one was started already
        (then nothing is sent)."""
        definition = self.starters[type(trigger)]
        engine = self.engines[definition.name]
        instance, commands = engine.start(str(uuid.uuid4()), trigger, self.clock())
        with self._span(instance, "start") as span:
            span.set_attribute("saga.outcome", instance.log[-1].status.value)
            outgoing = self._await(instance, commands)
            if not uow.sagas.add(instance):
                log.info("saga %s for %s already started", definition.name, instance.key)
                return
            self._emit(uow, instance, outgoing)

    def advance(self, uow: SagaUnitOfWork, reply: Event) -> None:
        """A reply: fed to the saga its correlation id names (none: logged, nothing done)."""
        saga_id = uow.correlation_id()
        instance = uow.sagas.get(saga_id) if saga_id and _is_uuid(saga_id) else None
        if instance is None:
            log.debug("%s answers no saga (correlation %s)", type(reply).__name__, saga_id)
            return
        engine = self.engines[instance.saga_type]
        now = self.clock()
        self._apply(uow, instance, lambda i: engine.on_reply(i, reply, now))

    def expire_due(self, limit: int = 100) -> int:
        """Apply timeouts to sagas whose deadline passed, counted from when their awaited
        command was published; returns how many were handled."""
        now = self.clock()
        with translate_db_errors(), self.uow_factory() as uow:
            due = uow.sagas.due(now, limit)
            for saga in due:
                instance = uow.sagas.get(saga.saga_id)
                if instance is None:
                    continue
                engine = self.engines[instance.saga_type]
                self._apply(
                    uow,
                    instance,
                    partial(engine.on_timeout, now=now, sent_after=saga.sent_after),
                )
            uow.commit()
        return len(due)

    def report_unsent(self, limit: int = 100) -> list[UnsentCommand]:
        """Report, once per saga and command, each saga whose awaited command has waited in
        the outbox longer than the unsent bound: the broker or the relay is down, or the row
        was parked. The saga keeps waiting; what it needs is an operator, not a rejection."""
        with translate_db_errors(), self.uow_factory() as uow:
            unsent = uow.sagas.unsent_unreported(self.clock(), self.unsent_alert, limit)
            uow.commit()
        for saga in unsent:
            self._commands_unsent.add(
                1, {"saga.type": saga.saga_type, "saga.step": saga.step or "-"}
            )
            log.error(
                "saga %s (%s %s) waits on %s %s of step %s, unpublished since %s: is the "
                "relay or Kafka down, or the row parked (`shopctl outbox list`)?",
                saga.saga_id,
                saga.saga_type,
                saga.key,
                saga.command_type,
                saga.command_id,
                saga.step,
                saga.written_at.isoformat(timespec="seconds"),
            )
        return unsent

    def retry(self, saga_id: str) -> SagaInstance:
        """An operator's retry of a stuck or compensation-failed saga (`KeyError`: no such
        saga; `NothingToRetry`: it has ended)."""
        with translate_db_errors(), self.uow_factory() as uow:
            instance = uow.sagas.get(saga_id, lock=True)
            if instance is None:
                raise KeyError(saga_id)
            engine = self.engines[instance.saga_type]
            now = self.clock()
            self._apply(uow, instance, lambda i: engine.retry(i, now))
            uow.commit()
            return instance

    def run_timeouts(self, stop: threading.Event, interval_s: float = 0.25) -> None:
        """The timer loop of a worker; several workers may run it (rows are locked, skipped).
        Every `unsent_check_every_s` it also reports commands left unsent too long."""
        next_unsent_check = time.monotonic()
        while not stop.is_set():
            try:
                handled = self.expire_due()
                if time.monotonic() >= next_unsent_check:
                    next_unsent_check = time.monotonic() + self.unsent_check_every_s
                    self.report_unsent()
            except EventingError as error:
                log.warning("saga timeout pass failed: %s", error)
                handled = 0
            if not handled:
                stop.wait(interval_s)

    def _apply(self, uow: SagaUnitOfWork, instance: SagaInstance, transition: Transition) -> None:
        before = (instance.state, instance.current_step)
        with self._span(instance, "advance") as span:
            commands = self._run_local_steps(uow, instance, transition(instance))
            new_entries = instance.log[len(instance.log) - instance.new_entries :]
            if new_entries:
                span.set_attribute("saga.outcome", new_entries[0].status.value)
            for entry in new_entries:
                span.add_event(f"{entry.step} {entry.status.value}", {"detail": entry.detail})
                if entry.status in (
                    StepStatus.TIMED_OUT,
                    StepStatus.RETRIED,
                    StepStatus.COMPENSATION_RETRIED,
                ):
                    log.warning(
                        "saga %s %s: %s %s",
                        instance.saga_id,
                        instance.key,
                        entry.step,
                        entry.status.value,
                    )
            span.set_attribute("saga.state", instance.state.value)
            outgoing = self._await(instance, commands)
            uow.sagas.save(instance)
            if (instance.state, instance.current_step) != before or commands:
                self._emit(uow, instance, outgoing)
        self._report_change(uow, instance, before[0])

    def _run_local_steps(
        self, uow: SagaUnitOfWork, instance: SagaInstance, commands: list[Event]
    ) -> list[Event]:
        """Apply each local step the transition sent, here (a span of its own, as a remote
        step's reply has), and feed its reply back; what is left is for the outbox."""
        engine = self.engines[instance.saga_type]
        while (
            commands
            and instance.state in _RUNS_FORWARD
            and instance.current_step in self.local_steps
        ):
            (command,) = commands
            with self._span(instance, "local"):
                reply = self.local_steps[instance.current_step](uow, command)
            commands = engine.on_reply(instance, reply, self.clock())
        return commands

    def _report_change(
        self, uow: SagaUnitOfWork, instance: SagaInstance, state_before: SagaState
    ) -> None:
        """Log and count what the transition changed: the counters once it is committed (a
        transition retried after a conflict is counted once)."""
        if instance.state is SagaState.COMPENSATION_FAILED and state_before is not instance.state:
            uow.after_commit(
                lambda: self._compensation_failures.add(1, {"saga.type": instance.saga_type})
            )
            log.error(
                "saga %s (%s %s) parked: compensation %s unanswered",
                instance.saga_id,
                instance.saga_type,
                instance.key,
                instance.current_step,
            )
        if (
            state_before is SagaState.COMPENSATION_FAILED
            and instance.state is not state_before
            and uow.message is not None
        ):
            log.warning(
                "saga %s (%s %s) resumed by a late %s: the step it was parked on is undone",
                instance.saga_id,
                instance.saga_type,
                instance.key,
                uow.message.type,
            )
        if not instance.is_active and state_before is not instance.state:
            uow.after_commit(lambda: self._ended(instance))

    def _ended(self, instance: SagaInstance) -> None:
        self._sagas_ended.add(1, {"saga.type": instance.saga_type, "saga.state": instance.state})
        saga_ended(instance)

    @staticmethod
    def _await(instance: SagaInstance, commands: list[Event]) -> list[tuple[Event, uuid.UUID]]:
        """Fix the event id of each command to send and remember the awaited one's, so the
        deadline can count from its publish (the engine sends at most one per transition, the
        step's command; the progress event is never awaited). Fixed before the saga row is
        written, so that the row and its command are stored together or not at all."""
        outgoing = [(command, uuid.uuid4()) for command in commands]
        for _, event_id in outgoing:
            instance.awaited_command_id = str(event_id)
        return outgoing

    def _emit(
        self,
        uow: SagaUnitOfWork,
        instance: SagaInstance,
        outgoing: list[tuple[Event, uuid.UUID]],
    ) -> None:
        for command, event_id in outgoing:
            uow.emit(command, correlation_id=instance.saga_id, event_id=event_id)
        if self.progress_event is not None:
            version = uow.sagas.next_progress_version()
            uow.emit(self.progress_event(instance, version), correlation_id=instance.saga_id)

    def _span(self, instance: SagaInstance, action: str):
        """A span per step transition: the step answered (or started), the instance, and the
        business key under the definition's own attribute name (e.g. `order.id`)."""
        step = instance.current_step or "-"
        definition = self.engines[instance.saga_type].definition
        return tracer.start_as_current_span(
            f"saga {instance.saga_type} {step}",
            attributes={
                "saga.id": instance.saga_id,
                "saga.type": instance.saga_type,
                "saga.key": instance.key,
                definition.key_attribute: instance.key,
                "saga.step": step,
                "saga.action": action,
            },
        )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
