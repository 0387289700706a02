"""The orchestrator's use cases on the in-memory adapter (no server): a starter event starts a
saga, a reply advances the saga its correlation id names, duplicates and strays change nothing,
the timeout loop resends and gives up, failures are compensated, an operator's retry resends.
The same orchestrator runs on PostgreSQL and Kafka in tests/integration/sagas."""

from __future__ import annotations

import uuid

import pytest

from contracts import orders
from eventing.registry import envelope_for
from sagas.framework.engine import NothingToRetry, SagaState, StepStatus
from testkit.metrics import counter_totals
from tests.unit.sagas.checkout_messages import (
    ORDER,
    approved,
    authorized,
    captured,
    committed,
    created,
    declined,
    released,
    reserved,
    voided,
)
from tests.unit.sagas.in_memory_orchestrator import TIMEOUT_S, UNSENT_ALERT_S, InMemoryOrchestrator

HAPPY_COMMANDS = [
    "ReserveStock",
    "AuthorizePayment",
    "CapturePayment",
    "CommitStock",
    "ApproveOrder",
]


@pytest.fixture
def shop() -> InMemoryOrchestrator:
    return InMemoryOrchestrator()


def test_an_order_created_starts_a_checkout_whose_command_carries_the_saga_id(shop):
    trigger = shop.deliver(created("tok_visa"))

    saga = shop.saga()
    [command] = shop.commands()
    assert (saga.state, saga.current_step) == (SagaState.RUNNING, "reserve_stock")
    assert command.type == "ReserveStock"
    assert command.correlation_id == saga.saga_id
    assert command.causation_id == str(trigger.event_id)
    assert saga.awaited_command_id == str(command.event_id), "the row names the command it awaits"


def test_every_change_is_announced_with_a_growing_version_under_the_saga_id(shop):
    shop.deliver(created("tok_visa"))
    reply = shop.answer(reserved())

    progress = shop.progress()
    assert [p.event.version for p in progress] == sorted({p.event.version for p in progress})
    assert len(progress) == 2
    assert {p.envelope.correlation_id for p in progress} == {shop.saga().saga_id}
    assert progress[-1].envelope.causation_id == str(reply.event_id)
    assert [s.name for s in progress[-1].event.steps] == ["reserve_stock"] * 2 + [
        "authorize_payment"
    ]


def test_a_reply_advances_the_saga_its_correlation_id_names(shop):
    shop.deliver(created("tok_visa"))
    reply = shop.answer(reserved())

    assert shop.command_names() == ["ReserveStock", "AuthorizePayment"]
    assert shop.last_command().causation_id == str(reply.event_id)
    assert shop.last_command().correlation_id == shop.saga().saga_id
    assert shop.saga().status_of("reserve_stock") is StepStatus.SUCCEEDED


def test_a_checkout_whose_every_step_succeeds_completes_and_counts_once(shop):
    shop.deliver(created("tok_visa"))
    for reply in (reserved(), authorized(), captured(), committed(), approved()):
        shop.answer(reply)

    saga = shop.saga()
    assert shop.command_names() == HAPPY_COMMANDS
    assert saga.state is SagaState.COMPLETED
    assert saga.data["payment_id"] == "p1"
    assert counter_totals(shop.metrics, "saga.ended", by="saga.state") == {"COMPLETED": 1}


def test_a_redelivered_starter_is_applied_once(shop):
    trigger = shop.deliver(created("tok_visa"))
    shop.redeliver(trigger)

    assert shop.command_names() == ["ReserveStock"]
    assert len(shop.tables.sagas) == 1


def test_a_second_order_created_for_the_same_order_starts_no_second_saga(shop):
    shop.deliver(created("tok_visa"))
    first = shop.saga()
    shop.deliver(created("tok_visa"))

    assert shop.command_names() == ["ReserveStock"]
    assert [s.saga_id for s in (stored.instance for stored in shop.tables.sagas.values())] == [
        first.saga_id
    ]
    assert shop.saga().version == first.version


def test_a_redelivered_reply_is_applied_once(shop):
    shop.deliver(created("tok_visa"))
    reply = shop.answer(reserved())
    shop.redeliver(reply)

    assert shop.command_names() == ["ReserveStock", "AuthorizePayment"]
    assert [e.status for e in shop.saga().log if e.step == "reserve_stock"] == [
        StepStatus.STARTED,
        StepStatus.SUCCEEDED,
    ]


def test_a_second_copy_of_a_reply_is_recorded_as_ignored_and_sends_nothing(shop):
    shop.deliver(created("tok_visa"))
    command = shop.last_command()
    shop.deliver(reserved(), caused_by=command)
    shop.deliver(reserved(), caused_by=command)

    assert shop.command_names() == ["ReserveStock", "AuthorizePayment"]
    assert shop.saga().log[-1].status is StepStatus.REPLY_IGNORED


@pytest.mark.parametrize("correlation_id", [str(uuid.uuid4()), "not-a-saga-id"])
def test_a_reply_to_no_saga_changes_nothing(shop, correlation_id):
    shop.deliver(created("tok_visa"))
    before = shop.saga()
    stray = envelope_for(reserved(), correlation_id=correlation_id)
    shop.redeliver(stray)

    assert shop.command_names() == ["ReserveStock"]
    assert shop.saga() == before


def test_a_message_no_saga_awaits_is_not_even_claimed(shop):
    """Another service's message on a subscribed topic: the dispatcher's table does not name
    it, so the orchestrator's inbox does not record it."""
    shop.deliver(orders.ApproveOrder(order_id=ORDER))

    assert shop.messages.inbox == set()
    assert shop.emitted() == []


def test_a_use_case_that_fails_leaves_no_trace_and_its_redelivery_applies_it(shop):
    shop.deliver(created("tok_visa"))
    reply = envelope_for(reserved(), causation=shop.last_command())
    progress_event = shop.orchestrator.progress_event

    def broken(instance, version):
        raise RuntimeError("the progress event could not be built")

    shop.orchestrator.progress_event = broken
    with pytest.raises(RuntimeError):
        shop.redeliver(reply)
    assert shop.command_names() == ["ReserveStock"]
    assert shop.saga().status_of("reserve_stock") is StepStatus.STARTED

    shop.orchestrator.progress_event = progress_event
    shop.redeliver(reply)
    assert shop.command_names() == ["ReserveStock", "AuthorizePayment"]


def test_an_unpublished_command_never_times_out(shop):
    shop.deliver(created("tok_visa"))

    assert shop.expire_after(TIMEOUT_S * 10) == 0
    assert shop.saga().log[-1].status is StepStatus.STARTED


def test_an_unanswered_command_is_resent_after_a_pause_with_a_new_id_and_the_same_saga(shop):
    shop.deliver(created("tok_visa"))
    first = shop.last_command()
    shop.relay()

    assert shop.expire_after(TIMEOUT_S) == 1
    assert shop.saga().backing_off, "it pauses before the next copy"
    assert shop.command_names() == ["ReserveStock"]
    assert shop.expire_after(1.0) == 1

    second = shop.last_command()
    assert shop.command_names() == ["ReserveStock", "ReserveStock"]
    assert second.event_id != first.event_id
    assert second.correlation_id == first.correlation_id == shop.saga().saga_id
    assert second.causation_id is None, "a timer, not a message, caused it"
    assert shop.saga().awaited_command_id == str(second.event_id)
    assert shop.saga().log[-1].status is StepStatus.RETRIED


def test_a_reply_to_an_earlier_copy_is_the_awaited_reply(shop):
    shop.deliver(created("tok_visa"))
    first = shop.last_command()
    shop.relay()
    shop.expire_after(TIMEOUT_S)
    shop.expire_after(1.0)

    shop.deliver(reserved(), caused_by=first)
    assert shop.command_names() == ["ReserveStock", "ReserveStock", "AuthorizePayment"]


def test_a_declined_payment_releases_the_stock_and_rejects_the_order(shop):
    shop.deliver(created("tok_declined"))
    shop.answer(reserved())
    shop.answer(declined())
    assert shop.command_names()[-1] == "ReleaseStock"
    shop.answer(released())
    assert shop.command_names()[-1] == "RejectOrder"
    shop.answer(orders.OrderRejected(order_id=ORDER, reason="PAYMENT_DECLINED"))

    saga = shop.saga()
    assert shop.command_names() == [
        "ReserveStock",
        "AuthorizePayment",
        "ReleaseStock",
        "RejectOrder",
    ]
    assert (saga.state, saga.failure_reason) == (SagaState.ABORTED, "PAYMENT_DECLINED")
    assert counter_totals(shop.metrics, "saga.ended", by="saga.state") == {"ABORTED": 1}


def test_a_payment_unanswered_every_attempt_is_voided_and_its_stock_released():
    shop = InMemoryOrchestrator(step_attempts=1)
    shop.deliver(created("tok_timeout"))
    shop.answer(reserved())
    shop.relay()
    shop.expire_after(TIMEOUT_S)

    assert shop.command_names() == ["ReserveStock", "AuthorizePayment", "VoidPayment"]
    assert shop.saga().outcome_of("authorize_payment") is StepStatus.TIMED_OUT
    shop.answer(voided())
    shop.answer(released())
    assert shop.last_command().type == "RejectOrder"
    assert shop.saga().failure_reason == "TIMEOUT"


def parked(shop: InMemoryOrchestrator) -> None:
    """A checkout whose stock release went unanswered every attempt: parked."""
    shop.deliver(created("tok_declined"))
    shop.answer(reserved())
    shop.answer(declined())
    while shop.saga().state is SagaState.COMPENSATING:
        shop.relay()
        shop.expire_after(TIMEOUT_S * 10)
    assert shop.saga().state is SagaState.COMPENSATION_FAILED


def test_a_compensation_unanswered_every_attempt_parks_the_saga_and_counts_it(shop):
    parked(shop)

    assert shop.command_names().count("ReleaseStock") == shop.max_compensation_attempts
    assert counter_totals(shop.metrics, "saga.compensation_failed", by="saga.type") == {
        "checkout": 1
    }


def test_an_operator_retry_resends_the_parked_compensation_outside_any_message(shop):
    parked(shop)
    retried = shop.orchestrator.retry(shop.saga().saga_id)

    assert retried.state is SagaState.COMPENSATING
    assert shop.saga().log[-1].detail == "operator retry"
    resent = shop.last_command()
    assert (resent.type, resent.causation_id) == ("ReleaseStock", None)
    shop.answer(released())
    assert shop.last_command().type == "RejectOrder"


def test_an_operator_retry_of_an_ended_or_unknown_saga_is_refused(shop):
    shop.deliver(created("tok_visa"))
    for reply in (reserved(), authorized(), captured(), committed(), approved()):
        shop.answer(reply)

    with pytest.raises(NothingToRetry):
        shop.orchestrator.retry(shop.saga().saga_id)
    with pytest.raises(KeyError):
        shop.orchestrator.retry(str(uuid.uuid4()))
    assert shop.command_names() == HAPPY_COMMANDS


def test_a_command_unpublished_past_the_unsent_bound_is_reported_once_and_not_rejected(shop):
    shop.deliver(created("tok_visa"))
    shop.clock.advance(UNSENT_ALERT_S + 1)

    [report] = shop.orchestrator.report_unsent()
    assert (report.step, report.command_type) == ("reserve_stock", "ReserveStock")
    assert shop.orchestrator.report_unsent() == [], "reported once"
    assert counter_totals(shop.metrics, "saga.commands_unsent", by="saga.step") == {
        "reserve_stock": 1
    }
    saga = shop.saga()
    assert (saga.state, saga.attempts, saga.failure_reason) == (SagaState.RUNNING, 1, None)


def test_a_cancellation_request_starts_the_cancellation_saga(shop):
    shop.deliver(orders.OrderCancellationRequested(order_id=ORDER))

    assert shop.command_names() == ["RefundPayment"]
    assert shop.saga("cancellation").current_step == "refund_payment"
