"""The orchestrator on the in-memory adapter, as its use-case tests drive it: messages go in
through the same dispatcher a worker's consumer calls, commands come out of the fake outbox,
the clock is the test's, and `relay` plays the outbox relay. No server."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from contracts.sagas import SagaProgressed, SagaStep
from eventing.envelope import Envelope
from eventing.registry import Decoded, Event, envelope_for, registry
from sagas.definitions import CHECKOUT, cancellation_saga, checkout_saga
from sagas.framework.engine import SagaInstance
from sagas.framework.fakes import InMemorySagaTables, InMemorySagaUnitOfWork
from sagas.framework.orchestrator import Orchestrator
from servicekit.dispatch import Dispatcher
from servicekit.unit_of_work import Emitted, InMemoryMessageStore
from tests.unit.sagas.checkout_messages import ORDER, T0

TIMEOUT_S = 10.0
UNSENT_ALERT_S = 300.0


def saga_progressed(instance: SagaInstance, version: int) -> SagaProgressed:
    """A progress event for the framework's `progress_event` (the shop itself announces none:
    its order API reads each saga from the orchestrator's rows)."""
    return SagaProgressed(
        order_id=instance.key,
        saga_id=instance.saga_id,
        saga_type=instance.saga_type,
        state=instance.state.value,
        version=version,
        steps=[SagaStep(name=e.step, status=e.status.value, at=e.at) for e in instance.log],
    )


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class InMemoryOrchestrator:
    step_attempts: int = 3
    max_compensation_attempts: int = 3
    clock: Clock = field(default_factory=Clock)
    tables: InMemorySagaTables = field(default_factory=InMemorySagaTables)
    messages: InMemoryMessageStore = field(
        default_factory=lambda: InMemoryMessageStore(consumer="checkout-saga")
    )
    metrics: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)

    def __post_init__(self) -> None:
        self.orchestrator = Orchestrator(
            [
                checkout_saga(
                    reply_timeout_s=TIMEOUT_S,
                    payment_timeout_s=TIMEOUT_S,
                    retry_base_delay_s=1.0,
                    max_compensation_attempts=self.max_compensation_attempts,
                    step_attempts=self.step_attempts,
                ),
                cancellation_saga(reply_timeout_s=TIMEOUT_S, retry_base_delay_s=1.0),
            ],
            uow_factory=self.unit_of_work,
            progress_event=saga_progressed,
            clock=self.clock,
            unsent_alert_s=UNSENT_ALERT_S,
            meter_provider=MeterProvider(metric_readers=[self.metrics]),
        )
        self.dispatcher = Dispatcher(self.unit_of_work, self.orchestrator.use_cases())

    def unit_of_work(self) -> InMemorySagaUnitOfWork:
        return InMemorySagaUnitOfWork(self.tables, self.messages, clock=self.clock)

    def deliver(self, event: Event, *, caused_by: Envelope | None = None) -> Envelope:
        """`event` consumed, as a participant's answer to `caused_by` (or as a new message)."""
        envelope = envelope_for(event, causation=caused_by)
        self.redeliver(envelope)
        return envelope

    def redeliver(self, envelope: Envelope) -> None:
        """The same message again, as Kafka delivers it after a rebalance."""
        self.dispatcher(registry.decode(envelope.to_bytes()))

    def answer(self, reply: Event) -> Envelope:
        """`reply` to the last command sent, as a participant sends it."""
        return self.deliver(reply, caused_by=self.last_command())

    def emitted(self) -> list[Emitted]:
        return list(self.messages.outbox)

    def commands(self) -> list[Envelope]:
        return [e.envelope for e in self.emitted() if e.envelope.type != SagaProgressed.event_type]

    def command_names(self) -> list[str]:
        return [envelope.type for envelope in self.commands()]

    def last_command(self) -> Envelope:
        return self.commands()[-1]

    def progress(self) -> list[Decoded]:
        return [
            registry.decode(e.envelope.to_bytes())
            for e in self.emitted()
            if e.envelope.type == SagaProgressed.event_type
        ]

    def saga(self, saga_type: str = CHECKOUT, key: str = ORDER) -> SagaInstance:
        with self.unit_of_work() as uow:
            instance = uow.sagas.find(saga_type, key)
        assert instance is not None, f"no {saga_type} saga for {key}"
        return instance

    def relay(self) -> int:
        """The relay publishes every command waiting in the outbox, now."""
        return self.tables.publish(self.clock())

    def expire_after(self, seconds: float) -> int:
        """Let `seconds` pass, then one pass of the timeout loop."""
        self.clock.advance(seconds)
        return self.orchestrator.expire_due()
