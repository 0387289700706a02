"""Payment's use cases on the in-memory adapter, through the dispatcher and the use-case table
its deployable runs: each token's outcome, one authorisation per order, capture, void and
refund, each command idempotent, and every reply caused by its command. No server: the
PostgreSQL adapter is held to the same contract in tests/contract/test_payment_*.py, and
tests/integration/payment_service runs the service on the real one."""

from __future__ import annotations

import pytest

from contracts import payment as messages
from eventing import topics
from eventing.envelope import Envelope
from eventing.registry import Decoded, envelope_for
from payment_service import services
from payment_service.deployable import use_case_table
from payment_service.domain import (
    Decision,
    PaymentStateError,
    PaymentStatus,
    SimulatedProcessor,
)
from payment_service.fakes import InMemoryPaymentUnitOfWork
from servicekit.dispatch import Dispatcher


class CountingProcessor(SimulatedProcessor):
    """The simulated processor, counting how often it is asked."""

    def __init__(self) -> None:
        self.asked = 0

    def authorize(self, payment_method: str, amount_cents: int) -> Decision:
        self.asked += 1
        return super().authorize(payment_method, amount_cents)


@pytest.fixture
def uow() -> InMemoryPaymentUnitOfWork:
    return InMemoryPaymentUnitOfWork()


@pytest.fixture
def processor() -> CountingProcessor:
    return CountingProcessor()


@pytest.fixture
def handle(uow, processor) -> Dispatcher[InMemoryPaymentUnitOfWork]:
    return Dispatcher(lambda: uow, use_case_table(processor))


def command(event: messages.Message) -> Decoded:
    """A command as the consumer hands it over: a new envelope, so a new event id."""
    return Decoded(envelope_for(event, correlation_id="saga-1"), event)


def authorize(order_id: str, token: str = "tok_visa", amount: int = 2500) -> Decoded:
    return command(
        messages.AuthorizePayment(
            order_id=order_id, customer_id="c-1", amount_cents=amount, payment_method=token
        )
    )


def capture(order_id: str) -> Decoded:
    return command(messages.CapturePayment(order_id=order_id))


def void(order_id: str) -> Decoded:
    return command(messages.VoidPayment(order_id=order_id))


def refund(order_id: str) -> Decoded:
    return command(messages.RefundPayment(order_id=order_id))


def replies(uow: InMemoryPaymentUnitOfWork, order_id: str) -> list[Envelope]:
    """The committed replies to the sagas about one order, oldest first."""
    return [
        e.envelope
        for e in uow.store.outbox
        if e.topic == topics.PAYMENTS and e.envelope.aggregate_id == order_id
    ]


def reply_types(uow: InMemoryPaymentUnitOfWork, order_id: str) -> list[str]:
    return [e.type for e in replies(uow, order_id)]


def status(uow: InMemoryPaymentUnitOfWork, order_id: str) -> tuple[PaymentStatus, int] | None:
    payment = uow.payments.for_order(order_id)
    return None if payment is None else (payment.status, payment.amount_cents)


@pytest.mark.parametrize(
    ("token", "reply", "outcome"),
    [
        ("tok_visa", "PaymentAuthorized", PaymentStatus.AUTHORIZED),
        ("tok_declined", "PaymentDeclined", PaymentStatus.DECLINED),
        ("tok_insufficient_funds", "PaymentDeclined", PaymentStatus.DECLINED),
    ],
)
def test_each_token_gets_its_outcome_and_reply(uow, handle, token, reply, outcome):
    handle(authorize("o-1", token))
    assert reply_types(uow, "o-1") == [reply]
    assert status(uow, "o-1") == (outcome, 2500)


def test_a_decline_names_its_reason(uow, handle):
    handle(authorize("o-1", "tok_insufficient_funds"))
    handle(authorize("o-2", "tok_declined"))
    assert replies(uow, "o-1")[0].payload["reason"] == "INSUFFICIENT_FUNDS"
    assert replies(uow, "o-2")[0].payload["reason"] == "PAYMENT_DECLINED"


def test_an_amount_above_2_to_the_31_cents_is_authorised_exactly(uow, handle):
    handle(authorize("o-big", amount=214_748_364_700))
    assert status(uow, "o-big") == (PaymentStatus.AUTHORIZED, 214_748_364_700)
    assert replies(uow, "o-big")[0].payload["amount_cents"] == 214_748_364_700


def test_the_processor_is_asked_once_per_order_and_a_repeat_resends_the_recorded_outcome(
    uow, handle, processor
):
    handle(authorize("o-1", "tok_declined"))
    handle(authorize("o-1", "tok_visa"))  # a retried command, even with another card
    assert processor.asked == 1
    first, second = replies(uow, "o-1")
    assert first.type == "PaymentDeclined"
    assert (second.type, second.payload) == (first.type, first.payload)
    assert second.event_id != first.event_id, "each reply is a message of its own"


def test_the_same_command_delivered_twice_is_applied_once(uow, handle, processor):
    request = authorize("o-1")
    handle(request)
    handle(request)  # a redelivery: dropped by the inbox
    assert processor.asked == 1
    assert reply_types(uow, "o-1") == ["PaymentAuthorized"]


def test_each_reply_is_caused_by_its_command_and_shares_its_correlation(uow, handle):
    requests = [authorize("o-1"), capture("o-1"), refund("o-1")]
    for request in requests:
        handle(request)
    assert [(e.causation_id, e.correlation_id) for e in replies(uow, "o-1")] == [
        (str(request.envelope.event_id), "saga-1") for request in requests
    ]


def test_authorise_capture_refund_happen_once_however_often_the_commands_come(uow, handle):
    handle(authorize("o-2"))
    handle(authorize("o-2"))
    for _ in range(2):
        handle(capture("o-2"))
    assert status(uow, "o-2") == (PaymentStatus.CAPTURED, 2500)
    for _ in range(2):
        handle(refund("o-2"))
    assert status(uow, "o-2") == (PaymentStatus.REFUNDED, 2500)
    assert reply_types(uow, "o-2") == [
        "PaymentAuthorized",
        "PaymentAuthorized",
        "PaymentCaptured",
        "PaymentCaptured",
        "PaymentRefunded",
        "PaymentRefunded",
    ]
    assert len({e.payload["payment_id"] for e in replies(uow, "o-2")}) == 1


def test_a_processor_that_never_answers_sends_nothing_and_a_void_then_blocks_the_order(
    uow, handle, processor
):
    handle(authorize("o-1", "tok_timeout"))
    assert reply_types(uow, "o-1") == []
    assert status(uow, "o-1") == (PaymentStatus.PENDING, 2500)
    handle(void("o-1"))
    handle(authorize("o-1", "tok_visa"))  # a retried authorisation after the void
    assert processor.asked == 1
    assert reply_types(uow, "o-1") == ["PaymentVoided", "PaymentVoided"]
    assert status(uow, "o-1") == (PaymentStatus.VOIDED, 2500)


def test_voiding_an_authorisation_answers_voided_and_a_repeat_answers_again(uow, handle):
    handle(authorize("o-1"))
    handle(void("o-1"))
    handle(void("o-1"))
    assert status(uow, "o-1") == (PaymentStatus.VOIDED, 2500)
    assert reply_types(uow, "o-1") == ["PaymentAuthorized", "PaymentVoided", "PaymentVoided"]


def test_voiding_a_declined_payment_leaves_it_declined(uow, handle):
    handle(authorize("o-1", "tok_declined"))
    handle(void("o-1"))
    assert status(uow, "o-1") == (PaymentStatus.DECLINED, 2500)
    assert reply_types(uow, "o-1") == ["PaymentDeclined", "PaymentVoided"]


def test_voiding_an_order_never_authorised_records_a_void_of_nothing(uow, handle, processor):
    handle(void("o-9"))
    assert status(uow, "o-9") == (PaymentStatus.VOIDED, 0)
    [voided] = replies(uow, "o-9")
    assert (voided.type, voided.payload["amount_cents"]) == ("PaymentVoided", 0)
    handle(authorize("o-9"))
    assert processor.asked == 0, "no authorisation can follow a void"
    assert status(uow, "o-9") == (PaymentStatus.VOIDED, 0)
    assert uow.payments.for_order("o-9").customer_id == "", "a void of nothing names no customer"


def test_capturing_a_declined_payment_is_refused_and_leaves_no_trace(uow, handle):
    handle(authorize("o-3", "tok_declined"))
    request = capture("o-3")
    for _ in range(2):  # not claimed: the redelivery is refused again
        with pytest.raises(PaymentStateError, match="cannot become CAPTURED"):
            handle(request)
    assert status(uow, "o-3") == (PaymentStatus.DECLINED, 2500)
    assert reply_types(uow, "o-3") == ["PaymentDeclined"]


@pytest.mark.parametrize("request_for", [capture, refund])
def test_capturing_or_refunding_an_order_with_no_payment_is_refused(uow, handle, request_for):
    with pytest.raises(PaymentStateError, match="has no payment"):
        handle(request_for("o-none"))
    assert uow.payments.for_order("o-none") is None
    assert uow.store.outbox == []


def test_refunding_an_authorisation_not_yet_captured_is_refused(uow, handle):
    handle(authorize("o-4"))
    with pytest.raises(PaymentStateError, match="cannot become REFUNDED"):
        handle(refund("o-4"))
    assert status(uow, "o-4") == (PaymentStatus.AUTHORIZED, 2500)


def test_the_storefront_sees_no_pending_attempt_but_every_decided_payment(uow, handle):
    handle(authorize("o-pending", "tok_timeout"))
    handle(authorize("o-paid"))
    with uow:
        assert services.visible_payments(uow, "o-pending") == []
        assert services.visible_payments(uow, "nobody") == []
        [paid] = services.visible_payments(uow, "o-paid")
    assert paid.status is PaymentStatus.AUTHORIZED
