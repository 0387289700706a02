"""Runs saga definitions against messages and the clock, persisting every step.

One database transaction per message or timeout holds: the inbox claim, the saga row (version
checked), its new log entries, and the commands and progress event in the outbox. Commands
carry the saga id as their correlation id, and services answer with it, so a reply finds its
saga without guessing.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial

from opentelemetry import metrics, trace
from sqlalchemy.orm import Session, sessionmaker

from eventing.db_errors import translate_db_errors
from eventing.envelope import Envelope, utc_now
from eventing.errors import EventingError
from eventing.inbox import Inbox
from eventing.outbox import Outbox
from eventing.registry import Decoded, Event
from sagas.framework.definition import SagaDefinition
from sagas.framework.engine import SagaEngine, SagaInstance, SagaState, StepStatus
from sagas.framework.metrics import saga_ended
from sagas.framework.store import SagaStore

log = logging.getLogger(__name__)
tracer = trace.get_tracer("sagas")
_meter = metrics.get_meter("sagas")
_compensation_failures = _meter.create_counter(
    "saga.compensation_failed", description="sagas parked because a compensation went unanswered"
)
_sagas_ended = _meter.create_counter("saga.ended", description="sagas that reached an end state")

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
        """Apply timeouts to sagas whose deadline passed; returns how many were handled."""
        now = self.clock()
        with translate_db_errors(), self.session_factory() as session, session.begin():
            due = self.store.due(session, now, limit)
            for saga_id in due:
                instance = self.store.get(session, saga_id)
                if instance is None:
                    continue
                engine = self.engines[instance.saga_type]
                self._apply(session, instance, partial(engine.on_timeout, now=now), None)
        return len(due)

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
        """The timer loop of a worker; several workers may run it (rows are locked, skipped)."""
        while not stop.is_set():
            try:
                handled = self.expire_due()
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
            if not self.store.add(session, instance):
                log.info("saga %s for %s already started", definition.name, instance.key)
                return
            self._emit(session, instance, commands, decoded.envelope)

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
            self.store.save(session, instance)
            if (instance.state, instance.current_step) != before or commands:
                self._emit(session, instance, commands, cause)
        if instance.state is SagaState.COMPENSATION_FAILED and before[0] is not instance.state:
            _compensation_failures.add(1, {"saga.type": instance.saga_type})
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
            _sagas_ended.add(1, {"saga.type": instance.saga_type, "saga.state": instance.state})
            saga_ended(instance)

    def _emit(
        self,
        session: Session,
        instance: SagaInstance,
        commands: list[Event],
        cause: Envelope | None,
    ) -> None:
        for command in commands:
            self.outbox.add_event(
                session, command, causation=cause, correlation_id=instance.saga_id
            )
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
