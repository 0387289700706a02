"""The orchestrator on the real Kafka and PostgreSQL, in the order service's database; each
saga starts with its order, as the order API starts it. The inventory and payment services are
played by a scripted participant that answers commands through Kafka the way the services do
(replies caused by the command, so they carry the saga's correlation id); approving or
rejecting the order is the orchestrator's own local step, on the order's row. The full checkout
across the real services is in tests/e2e.

Deadlines count from when the relay published a command: the tests that show it run the
orchestrator without its relay (as in a broker outage, the commands stay in the outbox), and
start the relay later."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from contracts import inventory, orders, payment
from eventing import topics
from eventing.consumer import EventConsumer
from eventing.envelope import Envelope
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import Decoded, Event, envelope_for, registry
from order_service import orm
from order_service.domain import LineItem, Order, OrderStatus
from sagas.config import Settings
from sagas.deployable import DEPLOYABLE, SagaRuntime, orchestrator
from sagas.framework.engine import SagaInstance, SagaState, StepStatus
from sagas.framework.ports import ConcurrentSagaUpdate
from servicekit.migrations import upgrade
from testkit.conditions import wait_for
from testkit.metrics import counter_totals
from testkit.scratch import outbox_rows

pytestmark = pytest.mark.integration

Answer = Callable[[Event], list[Event]]
#: The commands of a checkout that goes through, each sent once, in order.
HAPPY_COMMANDS = [
    "ReserveStock",
    "AuthorizePayment",
    "CapturePayment",
    "CommitStock",
]


def happy(command: Event) -> list[Event]:
    order_id = command.order_id
    match command:
        case inventory.ReserveStock():
            return [inventory.StockReserved(order_id=order_id, items=command.items)]
        case payment.AuthorizePayment():
            return [
                payment.PaymentAuthorized(
                    order_id=order_id, payment_id="p-1", amount_cents=command.amount_cents
                )
            ]
        case payment.CapturePayment():
            return [payment.PaymentCaptured(order_id=order_id, payment_id="p-1", amount_cents=1)]
        case payment.VoidPayment():
            return [payment.PaymentVoided(order_id=order_id, payment_id="p-1", amount_cents=0)]
        case inventory.CommitStock():
            return [inventory.StockCommitted(order_id=order_id)]
        case inventory.ReleaseStock():
            return [inventory.StockReleased(order_id=order_id)]
    return []


def declined(command: payment.AuthorizePayment) -> payment.PaymentDeclined:
    return payment.PaymentDeclined(
        order_id=command.order_id,
        payment_id="p-1",
        amount_cents=command.amount_cents,
        reason="PAYMENT_DECLINED",
    )


class Participant:
    """Answers saga commands through Kafka, and remembers them."""

    def __init__(self, kafka, answer: Answer):
        self.kafka = kafka
        self.answer = answer
        self.publisher = KafkaPublisher(kafka)
        self.commands: list[Event] = []
        self.envelopes = {}
        self.received: list[Envelope] = []

    def handle(self, decoded: Decoded) -> None:
        self.commands.append(decoded.event)
        self.envelopes[(decoded.event.order_id, type(decoded.event).__name__)] = decoded.envelope
        self.received.append(decoded.envelope)
        self.reply(decoded, self.answer(decoded.event))

    def reply(self, decoded: Decoded, events: list[Event]) -> None:
        self.publisher.publish(
            OutgoingMessage(
                self.kafka.qualify(event.topic),
                event.aggregate_id().encode(),
                envelope_for(event, causation=decoded.envelope).to_bytes(),
            )
            for event in events
        )

    def command_names(self, order_id: str) -> list[str]:
        return [type(c).__name__ for c in self.commands if c.order_id == order_id]

    def last_command(self, order_id: str) -> Event:
        return [c for c in self.commands if c.order_id == order_id][-1]

    def copies_of(self, order_id: str, command_type: str) -> list[Envelope]:
        """Every envelope of `command_type` received for the order: a resend is a new one."""
        return [
            e for e in self.received if e.type == command_type and e.payload["order_id"] == order_id
        ]


@pytest.fixture
def payment_timeout_s() -> float:
    """Far beyond the participant's answers on a loaded machine: a test that wants the payment
    to time out parametrizes a short one."""
    return 60.0


@pytest.fixture
def reply_timeout_s() -> float:
    """Like `payment_timeout_s`, for every other step (and its compensation)."""
    return 60.0


@pytest.fixture
def step_attempts() -> int:
    """Sends of reserve_stock's and authorize_payment's commands, as the setting's default."""
    return 3


@pytest.fixture
def unsent_alert_s() -> float:
    """How long a command may stay unpublished before the orchestrator reports it."""
    return 300.0


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    """What the orchestrator's meter records (its counters), read in memory."""
    return InMemoryMetricReader()


@pytest.fixture
def saga_app(
    scratch_engine,
    shop_topics,
    reply_timeout_s,
    payment_timeout_s,
    step_attempts,
    unsent_alert_s,
    metric_reader,
):
    url = scratch_engine.url.render_as_string(hide_password=False)
    upgrade(Path("order_service/migrations"), url)
    settings = Settings(
        database_url=url,
        reply_timeout_s=reply_timeout_s,
        payment_timeout_s=payment_timeout_s,
        retry_base_delay_s=0.2,
        max_compensation_attempts=3,
        step_attempts=step_attempts,
        unsent_alert_s=unsent_alert_s,
    )
    return DEPLOYABLE.runtime(
        settings, shop_topics, meter_provider=MeterProvider(metric_readers=[metric_reader])
    )


def without_resends(names: list[str]) -> list[str]:
    """Commands in the order first sent: a compensation unanswered within its (short) timeout
    on a loaded machine is sent again, which is not a new step."""
    return [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]


def run_all(tasks: dict[str, Callable[[threading.Event], None]]):
    stop = threading.Event()
    threads = [threading.Thread(target=task, args=(stop,), daemon=True) for task in tasks.values()]
    for thread in threads:
        thread.start()
    return stop, threads


def start_order(app, order_id: str, payment_method: str = "tok_visa") -> None:
    """A placed order, as the order API places it: its row, its OrderCreated and its checkout
    saga (the first command in the outbox) in one transaction."""
    created = orders.OrderCreated(
        order_id=order_id,
        customer_id="c-1",
        payment_method=payment_method,
        total_cents=2500,
        items=[{"sku": "SKU-1", "quantity": 1, "unit_price_cents": 2500}],
    )
    with app.uow_factory() as uow:
        uow.orders.add(Order(order_id, "c-1", payment_method, (LineItem("SKU-1", 1, 2500),)))
        uow.emit(created)
        orchestrator(app).start(uow, created)
        uow.commit()


def wait_for_state(app, order_id, states, timeout_s=120.0) -> SagaInstance:
    return wait_for(
        saga_when(app, order_id, lambda s: s.state in states),
        timeout_s,
        f"the saga of {order_id} reaching {states}",
    )


def saga_when(
    app, order_id: str, condition: Callable[[SagaInstance], bool]
) -> Callable[[], SagaInstance | None]:
    """A probe for `wait_for`: the order's saga, once it meets `condition`."""

    def probe() -> SagaInstance | None:
        instance = find_saga(app, order_id)
        return instance if instance is not None and condition(instance) else None

    return probe


def find_saga(app: SagaRuntime, order_id: str) -> SagaInstance | None:
    with app.uow_factory() as uow:
        return uow.sagas.find("checkout", order_id)


def order_outcome(app: SagaRuntime, order_id: str) -> tuple[OrderStatus, str | None]:
    with app.uow_factory() as uow:
        order = uow.orders.get(order_id)
    assert order is not None
    return order.status, order.rejection_reason


def announced(app: SagaRuntime, order_id: str) -> list[Envelope]:
    """What the order service's outbox holds for the order, in the order written."""
    rows = outbox_rows(app.engine, orm.outbox)
    return [row.envelope for row in rows if row.envelope.aggregate_id == order_id]


def outbox_row(app, event_id: str):
    """The orchestrator's outbox row of one command: when it was written and published."""
    with app.engine.connect() as connection:
        return connection.execute(
            sa.select(orm.outbox).where(orm.outbox.c.event_id == uuid.UUID(event_id))
        ).one()


def unsent_reports(reader: InMemoryMetricReader) -> dict[str, int]:
    """saga.commands_unsent per step."""
    return counter_totals(reader, "saga.commands_unsent", by="saga.step")


def silent_inventory(command: Event) -> list[Event]:
    """An inventory service that never answers a reservation."""
    if isinstance(command, inventory.ReserveStock):
        return []
    return happy(command)


@pytest.fixture
def background():
    """Runs tasks on threads (`run_all`); stops and joins every one at the end of the test."""
    runs = []

    def start(tasks: dict[str, Callable[[threading.Event], None]]) -> None:
        runs.append(run_all(tasks))

    yield start
    for stop, threads in runs:
        stop.set()
        for thread in threads:
            thread.join(15)


@pytest.fixture
def running(saga_app, shop_topics, background):
    """The orchestrator's tasks (all, or `without` some) and a participant, running; returns a
    function to script it."""

    def start(answer: Answer, *, without: tuple[str, ...] = ()) -> Participant:
        participant = Participant(shop_topics, answer)
        consumer = EventConsumer(
            shop_topics,
            group_id=f"participant-{uuid.uuid4().hex[:6]}",
            topics=[topics.INVENTORY_COMMANDS, topics.PAYMENT_COMMANDS],
            handler=participant.handle,
            registry=registry,
        )
        tasks = {name: task for name, task in saga_app.tasks().items() if name not in without}
        background({**tasks, "participant": consumer.run})
        return participant

    return start


def test_a_checkout_runs_every_step_in_order_and_completes(saga_app, shop_topics, running):
    participant = running(happy)
    start_order(saga_app, "order-happy")

    saga = wait_for_state(saga_app, "order-happy", {SagaState.COMPLETED})
    assert participant.command_names("order-happy") == HAPPY_COMMANDS
    assert order_outcome(saga_app, "order-happy") == (OrderStatus.APPROVED, None)
    approved = [e for e in announced(saga_app, "order-happy") if e.type == "OrderApproved"]
    assert [e.correlation_id for e in approved] == [saga.saga_id], "approved once, in the saga"
    assert saga.data["payment_id"] == "p-1"
    assert [e.status for e in saga.log if e.step == "reserve_stock"] == [
        StepStatus.STARTED,
        StepStatus.SUCCEEDED,
    ]


@pytest.mark.parametrize("payment_timeout_s", [1.5])
def test_an_unanswered_payment_times_out_and_compensates_and_a_late_reply_is_only_recorded(
    saga_app, shop_topics, running
):
    def silent_processor(command: Event) -> list[Event]:
        if isinstance(command, payment.AuthorizePayment):
            return []  # tok_timeout: the processor never answers
        return happy(command)

    participant = running(silent_processor)
    start_order(saga_app, "order-timeout", payment_method="tok_timeout")
    saga = wait_for_state(saga_app, "order-timeout", {SagaState.ABORTED})

    assert without_resends(participant.command_names("order-timeout")) == [
        "ReserveStock",
        "AuthorizePayment",
        "VoidPayment",
        "ReleaseStock",
    ]
    assert order_outcome(saga_app, "order-timeout") == (OrderStatus.REJECTED, "TIMEOUT")

    authorize = participant.envelopes[("order-timeout", "AuthorizePayment")]
    late = payment.PaymentAuthorized(order_id="order-timeout", payment_id="late", amount_cents=1)
    participant.reply(Decoded(authorize, late), [late])
    saga = wait_for(
        saga_when(
            saga_app, "order-timeout", lambda s: s.log[-1].status is StepStatus.REPLY_IGNORED
        ),
        60,
        "the late reply recorded",
    )
    assert saga.state is SagaState.ABORTED
    assert "payment_id" not in saga.data


@pytest.mark.parametrize("reply_timeout_s", [1.0])
def test_a_saga_parked_on_an_unanswered_release_finishes_when_the_answer_comes_late(
    saga_app, shop_topics, running
):
    def inventory_down_for_releases(command: Event) -> list[Event]:
        if isinstance(command, inventory.ReleaseStock):
            return []
        if isinstance(command, payment.AuthorizePayment):
            return [declined(command)]
        return happy(command)

    participant = running(inventory_down_for_releases)
    start_order(saga_app, "order-parked")
    wait_for_state(saga_app, "order-parked", {SagaState.COMPENSATION_FAILED})

    release = participant.envelopes[("order-parked", "ReleaseStock")]
    late = inventory.StockReleased(order_id="order-parked")
    participant.reply(Decoded(release, late), [late])
    saga = wait_for_state(saga_app, "order-parked", {SagaState.ABORTED})

    assert order_outcome(saga_app, "order-parked") == (OrderStatus.REJECTED, "PAYMENT_DECLINED")
    assert [e.type for e in announced(saga_app, "order-parked")].count("OrderRejected") == 1
    releases = [e.status for e in saga.log if e.step == "reserve_stock"]
    assert releases[releases.index(StepStatus.COMPENSATION_FAILED) + 1 :] == [
        StepStatus.COMPENSATED
    ], "the late answer, not a timeout or a retry, finished it"


def test_duplicate_and_reordered_replies_through_kafka_are_ignored(saga_app, shop_topics, running):
    reserved = {}

    def twice_and_stale(command: Event) -> list[Event]:
        """Every reply sent twice (distinct events, as a service retrying its send would), and
        the stock reservation's reply once more, late, after the saga has moved past it."""
        replies = happy(command) * 2
        if isinstance(command, inventory.ReserveStock):
            reserved["reply"] = replies[0]
        if isinstance(command, inventory.CommitStock):
            replies.insert(0, reserved["reply"])
        return replies

    participant = running(twice_and_stale)
    start_order(saga_app, "order-noisy")
    saga = wait_for_state(saga_app, "order-noisy", {SagaState.COMPLETED})

    assert participant.command_names("order-noisy") == HAPPY_COMMANDS, "no step ran twice"
    saga = wait_for(
        saga_when(
            saga_app,
            "order-noisy",
            # A duplicate of each of the four participants' replies, and the stale one.
            lambda s: sum(e.status is StepStatus.REPLY_IGNORED for e in s.log) >= 5,
        ),
        60,
        "every duplicate recorded as ignored",
    )
    assert saga.state is SagaState.COMPLETED
    succeeded = [e.step for e in saga.log if e.status is StepStatus.SUCCEEDED]
    assert len(succeeded) == len(set(succeeded)) == 5, "four answered, and the local approval"


def test_two_writers_of_one_saga_cannot_both_advance_it(saga_app, shop_topics, running):
    running(happy)
    start_order(saga_app, "order-race")
    wait_for_state(saga_app, "order-race", {SagaState.COMPLETED})
    with saga_app.uow_factory() as first, saga_app.uow_factory() as second:
        mine = first.sagas.find("checkout", "order-race")
        theirs = second.sagas.find("checkout", "order-race")
        mine.failure_reason = theirs.failure_reason = "changed"
        first.sagas.save(mine)
        first.commit()
        with pytest.raises(ConcurrentSagaUpdate):
            second.sagas.save(theirs)


@pytest.mark.parametrize(("reply_timeout_s", "unsent_alert_s", "step_attempts"), [(2.0, 4.0, 1)])
def test_an_unpublished_command_does_not_time_out_and_its_clock_starts_at_its_publish(
    saga_app, shop_topics, running, background, metric_reader
):
    participant = running(silent_inventory, without=("relay",))
    start_order(saga_app, "order-unsent")
    waiting = wait_for_state(saga_app, "order-unsent", {SagaState.RUNNING})
    command_id = waiting.awaited_command_id
    assert command_id is not None, "the saga names the command it awaits"

    # The unsent report comes from the timeout loop, in the pass that has just expired what
    # was due: the stored deadline is well past, and the saga was not timed out.
    wait_for(lambda: unsent_reports(metric_reader), 60, "the unsent command reported")
    saga = find_saga(saga_app, "order-unsent")
    assert saga is not None
    assert (saga.state, saga.attempts) == (SagaState.RUNNING, 1)
    assert [e.status for e in saga.log] == [StepStatus.STARTED]
    assert outbox_row(saga_app, command_id).published_at is None
    assert participant.command_names("order-unsent") == []

    background({"relay": saga_app.relay().run})
    saga = wait_for_state(saga_app, "order-unsent", {SagaState.ABORTED})

    command = outbox_row(saga_app, command_id)
    assert command.published_at - command.created_at >= timedelta(seconds=4)
    timed_out = next(e for e in saga.log if e.status is StepStatus.TIMED_OUT)
    assert timed_out.at >= command.published_at + timedelta(seconds=2), (
        "the reply timeout ran from the publish"
    )
    assert participant.command_names("order-unsent")[:1] == ["ReserveStock"]
    assert saga.failure_reason == "TIMEOUT"


@pytest.mark.parametrize(("reply_timeout_s", "unsent_alert_s"), [(1.0, 2.0)])
def test_a_command_unpublished_past_the_unsent_bound_is_reported_once_and_not_rejected(
    saga_app, shop_topics, running, metric_reader, caplog
):
    caplog.set_level(logging.ERROR, logger="sagas.framework.orchestrator")
    running(happy, without=("relay",))
    start_order(saga_app, "order-stuck")

    assert wait_for(lambda: unsent_reports(metric_reader), 60, "a report") == {"reserve_stock": 1}
    saga = find_saga(saga_app, "order-stuck")
    assert saga is not None
    reports = [r.getMessage() for r in caplog.records if saga.saga_id in r.getMessage()]
    assert len(reports) == 1 and "ReserveStock" in reports[0] and "unpublished" in reports[0]

    assert orchestrator(saga_app).report_unsent() == [], "reported once"
    assert unsent_reports(metric_reader) == {"reserve_stock": 1}
    saga = find_saga(saga_app, "order-stuck")
    assert saga is not None
    assert (saga.state, saga.attempts, saga.failure_reason) == (SagaState.RUNNING, 1, None)


@pytest.mark.parametrize("payment_timeout_s", [1.5])
def test_a_payment_that_gets_no_reply_is_resent_its_attempts_then_compensated(
    saga_app, shop_topics, running, step_attempts
):
    def silent_processor(command: Event) -> list[Event]:
        if isinstance(command, payment.AuthorizePayment):
            return []
        return happy(command)

    participant = running(silent_processor)
    start_order(saga_app, "order-silent", payment_method="tok_timeout")
    saga = wait_for_state(saga_app, "order-silent", {SagaState.ABORTED})

    copies = participant.copies_of("order-silent", "AuthorizePayment")
    assert len(copies) == step_attempts == 3
    assert len({c.event_id for c in copies}) == 3, "each resend is a new envelope"
    assert {c.correlation_id for c in copies} == {saga.saga_id}
    assert participant.command_names("order-silent") == [
        "ReserveStock",
        *["AuthorizePayment"] * 3,
        "VoidPayment",
        "ReleaseStock",
    ]
    assert [(e.status, e.detail) for e in saga.log if e.step == "authorize_payment"][:4] == [
        (StepStatus.STARTED, ""),
        (StepStatus.RETRIED, "attempt 2"),
        (StepStatus.RETRIED, "attempt 3"),
        (StepStatus.TIMED_OUT, "no reply to 3 attempts of 1.5s"),
    ]
    assert order_outcome(saga_app, "order-silent") == (OrderStatus.REJECTED, "TIMEOUT")


def test_a_declined_payment_is_not_retried(saga_app, shop_topics, running):
    def declining(command: Event) -> list[Event]:
        if isinstance(command, payment.AuthorizePayment):
            return [declined(command)]
        return happy(command)

    participant = running(declining)
    start_order(saga_app, "order-declined", payment_method="tok_declined")
    saga = wait_for_state(saga_app, "order-declined", {SagaState.ABORTED})

    assert participant.command_names("order-declined") == [
        "ReserveStock",
        "AuthorizePayment",
        "ReleaseStock",
    ]
    assert StepStatus.RETRIED not in {e.status for e in saga.log}
    assert saga.failure_reason == "PAYMENT_DECLINED"
    assert order_outcome(saga_app, "order-declined") == (
        OrderStatus.REJECTED,
        "PAYMENT_DECLINED",
    )
