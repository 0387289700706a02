"""The orchestrator on the real Kafka and PostgreSQL. The services' side is played by a
scripted participant that answers commands through Kafka the way the services do (replies
caused by the command, so they carry the saga's correlation id); the full checkout across the
real services is in tests/e2e."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from contracts import inventory, orders, payment
from eventing import topics
from eventing.consumer import EventConsumer
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import Decoded, Event, envelope_for, registry
from sagas import orm
from sagas.bootstrap import bootstrap
from sagas.config import Settings
from sagas.framework.engine import SagaState, StepStatus
from sagas.framework.store import ConcurrentSagaUpdate, SagaStore
from servicekit.migrations import upgrade

pytestmark = pytest.mark.integration

Answer = Callable[[Event], list[Event]]
#: The commands of a checkout that goes through, each sent once, in order.
HAPPY_COMMANDS = [
    "ReserveStock",
    "AuthorizePayment",
    "CapturePayment",
    "CommitStock",
    "ApproveOrder",
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
        case orders.ApproveOrder():
            return [orders.OrderApproved(order_id=order_id)]
        case orders.RejectOrder():
            return [orders.OrderRejected(order_id=order_id, reason=command.reason)]
    return []


class Participant:
    """Answers saga commands through Kafka, and remembers them."""

    def __init__(self, kafka, answer: Answer):
        self.kafka = kafka
        self.answer = answer
        self.publisher = KafkaPublisher(kafka)
        self.commands: list[Event] = []
        self.envelopes = {}

    def handle(self, decoded: Decoded) -> None:
        self.commands.append(decoded.event)
        self.envelopes[(decoded.event.order_id, type(decoded.event).__name__)] = decoded.envelope
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
def saga_app(scratch_engine, shop_topics, reply_timeout_s, payment_timeout_s):
    url = scratch_engine.url.render_as_string(hide_password=False)
    upgrade(Path("sagas/migrations"), url)
    settings = Settings(
        database_url=url,
        reply_timeout_s=reply_timeout_s,
        payment_timeout_s=payment_timeout_s,
        retry_base_delay_s=0.2,
        max_compensation_attempts=3,
    )
    return bootstrap(settings, shop_topics)


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


def start_order(kafka, order_id: str, payment_method: str = "tok_visa") -> None:
    created = orders.OrderCreated(
        order_id=order_id,
        customer_id="c-1",
        payment_method=payment_method,
        total_cents=2500,
        items=[{"sku": "SKU-1", "quantity": 1, "unit_price_cents": 2500}],
    )
    KafkaPublisher(kafka).publish(
        [
            OutgoingMessage(
                kafka.qualify(topics.ORDERS), order_id.encode(), envelope_for(created).to_bytes()
            )
        ]
    )


def wait_for_state(app, order_id, states, timeout_s=120.0):
    store = app.orchestrator.store
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with Session(app.engine) as session:
            instance = store.find(session, "checkout", order_id)
        if instance is not None and instance.state in states:
            return instance
        time.sleep(0.2)
    raise AssertionError(f"saga for {order_id} did not reach {states}: {instance}")


@pytest.fixture
def running(saga_app, shop_topics):
    """The orchestrator's tasks and a participant, running; yields a function to script it."""
    participants: list[Participant] = []
    stops = []

    def start(answer: Answer) -> Participant:
        participant = Participant(shop_topics, answer)
        consumer = EventConsumer(
            shop_topics,
            group_id=f"participant-{uuid.uuid4().hex[:6]}",
            topics=[topics.INVENTORY_COMMANDS, topics.PAYMENT_COMMANDS, topics.ORDER_COMMANDS],
            handler=participant.handle,
            registry=registry,
        )
        stops.append(run_all({**saga_app.tasks(), "participant": consumer.run}))
        participants.append(participant)
        return participant

    yield start
    for stop, threads in stops:
        stop.set()
        for thread in threads:
            thread.join(15)


def test_a_checkout_runs_every_step_in_order_and_completes(saga_app, shop_topics, running):
    participant = running(happy)
    start_order(shop_topics, "order-happy")

    saga = wait_for_state(saga_app, "order-happy", {SagaState.COMPLETED})
    assert participant.command_names("order-happy") == HAPPY_COMMANDS
    assert participant.envelopes[("order-happy", "ApproveOrder")].correlation_id == saga.saga_id
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
    start_order(shop_topics, "order-timeout", payment_method="tok_timeout")
    saga = wait_for_state(saga_app, "order-timeout", {SagaState.ABORTED})

    assert without_resends(participant.command_names("order-timeout")) == [
        "ReserveStock",
        "AuthorizePayment",
        "VoidPayment",
        "ReleaseStock",
        "RejectOrder",
    ]
    rejected = next(
        c
        for c in participant.commands
        if isinstance(c, orders.RejectOrder) and c.order_id == "order-timeout"
    )
    assert rejected.reason == "TIMEOUT"

    authorize = participant.envelopes[("order-timeout", "AuthorizePayment")]
    late = payment.PaymentAuthorized(order_id="order-timeout", payment_id="late", amount_cents=1)
    participant.reply(Decoded(authorize, late), [late])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        saga = wait_for_state(saga_app, "order-timeout", {SagaState.ABORTED})
        if saga.log[-1].status is StepStatus.REPLY_IGNORED:
            break
        time.sleep(0.2)
    assert saga.log[-1].status is StepStatus.REPLY_IGNORED
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
            return [
                payment.PaymentDeclined(
                    order_id=command.order_id,
                    payment_id="p-1",
                    amount_cents=command.amount_cents,
                    reason="PAYMENT_DECLINED",
                )
            ]
        return happy(command)

    participant = running(inventory_down_for_releases)
    start_order(shop_topics, "order-parked")
    wait_for_state(saga_app, "order-parked", {SagaState.COMPENSATION_FAILED})

    release = participant.envelopes[("order-parked", "ReleaseStock")]
    late = inventory.StockReleased(order_id="order-parked")
    participant.reply(Decoded(release, late), [late])
    saga = wait_for_state(saga_app, "order-parked", {SagaState.ABORTED})

    assert participant.command_names("order-parked").count("RejectOrder") == 1
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
    start_order(shop_topics, "order-noisy")
    saga = wait_for_state(saga_app, "order-noisy", {SagaState.COMPLETED})

    assert participant.command_names("order-noisy") == HAPPY_COMMANDS, "no step ran twice"
    deadline = time.monotonic() + 20
    while sum(e.status is StepStatus.REPLY_IGNORED for e in saga.log) < 6:
        assert time.monotonic() < deadline, [(e.step, e.status) for e in saga.log]
        time.sleep(0.2)
        saga = wait_for_state(saga_app, "order-noisy", {SagaState.COMPLETED})
    assert saga.state is SagaState.COMPLETED
    succeeded = [e.step for e in saga.log if e.status is StepStatus.SUCCEEDED]
    assert len(succeeded) == len(set(succeeded)) == 5


def test_two_writers_of_one_saga_cannot_both_advance_it(saga_app, shop_topics, running):
    running(happy)
    start_order(shop_topics, "order-race")
    wait_for_state(saga_app, "order-race", {SagaState.COMPLETED})
    store = SagaStore(orm.saga_instances, orm.saga_log, orm.saga_progress_seq, outbox=orm.outbox)
    with Session(saga_app.engine) as first, Session(saga_app.engine) as second:
        mine = store.find(first, "checkout", "order-race")
        theirs = store.find(second, "checkout", "order-race")
        mine.failure_reason = theirs.failure_reason = "changed"
        store.save(first, mine)
        first.commit()
        with pytest.raises(ConcurrentSagaUpdate):
            store.save(second, theirs)
