"""Runs saga definitions against messages and the clock, persisting every step.

One database transaction per message or timeout holds: the inbox claim, the saga row (version
checked), its new log entries, and the commands and progress event in the outbox. Commands
carry the saga id as their correlation id, and services answer with it, so a reply finds its
saga without guessing.

The saga row remembers the event id of the command it awaits, so the timeout loop can count
each deadline from when the relay published that command (`SagaStore.due`); a command that
stays unpublished past `unsent_alert_s` is reported to an operator (an error log line and the
`saga.commands_unsent` counter, once per saga and command), never rejected for it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import partial

from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider
from sqlalchemy.orm import Session, sessionmaker

from eventing.db_errors import translate_db_errors
from eventing.envelope import Envelope, utc_now
from eventing.errors import EventingError
from eventing.inbox import Inbox
from eventing.outbox import Outbox
from eventing.registry import Decoded, Event, envelope_for
from sagas.framework.definition import SagaDefinition
from sagas.framework.engine import SagaEngine, SagaInstance, SagaState, StepStatus
from sagas.framework.metrics import saga_ended
from sagas.framework.store import SagaStore, UnsentCommand

log = logging.getLogger(__name__)
tracer = trace.get_tracer("sagas")
ProgressEvent = Callable[[SagaInstance, int], Event]
"""Builds the event announcing a saga's new state (given a strictly growing version)."""


class Orchestrator:
    def __init__(
        self,
        definitions: Iterable[SagaDefinition],
        *,
        session_factory: sessionmaker[Session],
        store: SagaStore,
        outbox: Outbox,
        inbox: Inbox,
        progress_event: ProgressEvent | None = None,
        clock: Callable[[], datetime] = utc_now,
        unsent_alert_s: float = 300.0,
        unsent_check_every_s: float = 5.0,
        meter_provider: MeterProvider | None = None,
    ):
        self.engines = {d.name: SagaEngine(d) for d in definitions}
        self.starters = {d.started_by: d for d in definitions}
        self.reply_types = set().union(*(d.reply_types() for d in definitions))
        self.session_factory = session_factory
        self.store = store
        self.outbox = outbox
        self.inbox = inbox
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

    def handle(self, decoded: Decoded) -> None:
        """The consumer's handler: start a saga, or feed a reply to the saga it answers."""
        event, envelope = decoded.event, decoded.envelope
        if type(event) not in self.starters and type(event) not in self.reply_types:
            return
        with translate_db_errors(), self.session_factory() as session, session.begin():
            if not self.inbox.claim(session, envelope.event_id, envelope.type):
                return
            definition = self.starters.get(type(event))
            if definition is not None:
                self._start(session, definition, decoded)
            else:
                self._reply(session, decoded)

    def expire_due(self, limit: int = 100) -> int:
        """Apply timeouts to sagas whose deadline passed, counted from when their awaited
        command was published; returns how many were handled."""
        now = self.clock()
        with translate_db_errors(), self.session_factory() as session, session.begin():
            due = self.store.due(session, now, limit)
            for saga in due:
                instance = self.store.get(session, saga.saga_id)
                if instance is None:
                    continue
                engine = self.engines[instance.saga_type]
                timeout = partial(engine.on_timeout, now=now, sent_after=saga.sent_after)
                self._apply(session, instance, timeout, None)
        return len(due)

    def report_unsent(self, limit: int = 100) -> list[UnsentCommand]:
        """Report, once per saga and command, each saga whose awaited command has waited in
        the outbox longer than the unsent bound: the broker or the relay is down, or the row
        was parked. The saga keeps waiting; what it needs is an operator, not a rejection."""
        with translate_db_errors(), self.session_factory() as session, session.begin():
            unsent = self.store.unsent_unreported(session, self.clock(), self.unsent_alert, limit)
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
        """An operator's retry of a stuck or compensation-failed saga."""
        with translate_db_errors(), self.session_factory() as session, session.begin():
            instance = self.store.get(session, saga_id, lock=True)
            if instance is None:
                raise KeyError(saga_id)
            engine = self.engines[instance.saga_type]
            now = self.clock()
            self._apply(session, instance, lambda i: engine.retry(i, now), None)
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

    def _start(self, session: Session, definition: SagaDefinition, decoded: Decoded) -> None:
        engine = self.engines[definition.name]
        instance, commands = engine.start(str(uuid.uuid4()), decoded.event, self.clock())
        with self._span(instance, "start") as span:
            span.set_attribute("saga.outcome", instance.log[-1].status.value)
            outgoing = self._await(instance, commands, decoded.envelope)
            if not self.store.add(session, instance):
                log.info("saga %s for %s already started", definition.name, instance.key)
                return
            self._emit(session, instance, outgoing, decoded.envelope)

    def _reply(self, session: Session, decoded: Decoded) -> None:
        instance = (
            self.store.get(session, decoded.envelope.correlation_id)
            if _is_uuid(decoded.envelope.correlation_id)
            else None
        )
        if instance is None:
            log.debug(
                "%s answers no saga (correlation %s)",
                decoded.envelope.type,
                decoded.envelope.correlation_id,
            )
            return
        engine = self.engines[instance.saga_type]
        now = self.clock()
        self._apply(
            session, instance, lambda i: engine.on_reply(i, decoded.event, now), decoded.envelope
        )

    def _apply(
        self,
        session: Session,
        instance: SagaInstance,
        transition: Callable[[SagaInstance], list[Event]],
        cause: Envelope | None,
    ) -> None:
        before = (instance.state, instance.current_step)
        with self._span(instance, "advance") as span:
            commands = transition(instance)
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
            outgoing = self._await(instance, commands, cause)
            self.store.save(session, instance)
            if (instance.state, instance.current_step) != before or commands:
                self._emit(session, instance, outgoing, cause)
        if instance.state is SagaState.COMPENSATION_FAILED and before[0] is not instance.state:
            self._compensation_failures.add(1, {"saga.type": instance.saga_type})
            log.error(
                "saga %s (%s %s) parked: compensation %s unanswered",
                instance.saga_id,
                instance.saga_type,
                instance.key,
                instance.current_step,
            )
        if (
            before[0] is SagaState.COMPENSATION_FAILED
            and instance.state is not before[0]
            and cause is not None
        ):
            log.warning(
                "saga %s (%s %s) resumed by a late %s: the step it was parked on is undone",
                instance.saga_id,
                instance.saga_type,
                instance.key,
                cause.type,
            )
        if not instance.is_active and before[0] is not instance.state:
            self._sagas_ended.add(
                1, {"saga.type": instance.saga_type, "saga.state": instance.state}
            )
            saga_ended(instance)

    @staticmethod
    def _await(
        instance: SagaInstance, commands: list[Event], cause: Envelope | None
    ) -> list[tuple[Event, Envelope]]:
        """Envelope the commands to send and remember the awaited one's event id, so the
        deadline can count from its publish (the engine sends at most one per transition, the
        step's command; the progress event is never awaited). Enveloped before the saga row is
        written, so that the row and its command are stored together or not at all."""
        outgoing = [
            (command, envelope_for(command, causation=cause, correlation_id=instance.saga_id))
            for command in commands
        ]
        for _, envelope in outgoing:
            instance.awaited_command_id = str(envelope.event_id)
        return outgoing

    def _emit(
        self,
        session: Session,
        instance: SagaInstance,
        outgoing: list[tuple[Event, Envelope]],
        cause: Envelope | None,
    ) -> None:
        for command, envelope in outgoing:
            self.outbox.add(session, command.topic, envelope)
        if self.progress_event is not None:
            version = self.store.next_progress_version(session)
            self.outbox.add_event(
                session,
                self.progress_event(instance, version),
                causation=cause,
                correlation_id=instance.saga_id,
            )

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
