"""The checkout and cancellation sagas as state machines (no I/O): which commands each reply
or timeout leads to, and what the step log says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts import inventory, orders, payment
from sagas.definitions import cancellation_saga, checkout_saga
from sagas.framework.engine import NothingToRetry, SagaEngine, SagaState, StepStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ORDER = "order-1"


def order_created() -> orders.OrderCreated:
    return orders.OrderCreated(
        order_id=ORDER,
        customer_id="c1",
        payment_method="tok_visa",
        total_cents=1998,
        items=[{"sku": "SKU-1", "quantity": 2, "unit_price_cents": 999}],
    )


@pytest.fixture
def engine() -> SagaEngine:
    """One attempt per step: each timeout here gives the step up (retries: test_retry_policy)."""
    return SagaEngine(
        checkout_saga(
            reply_timeout_s=5,
            payment_timeout_s=5,
            max_compensation_attempts=3,
            step_attempts=1,
        )
    )


def started(engine):
    return engine.start("saga-1", order_created(), T0)


def names(commands) -> list[str]:
    return [type(c).__name__ for c in commands]


def reserved():
    return inventory.StockReserved(order_id=ORDER, items=[{"sku": "SKU-1", "quantity": 2}])


def authorized():
    return payment.PaymentAuthorized(order_id=ORDER, payment_id="p1", amount_cents=1998)


def run_to_authorized(engine):
    saga, _ = started(engine)
    engine.on_reply(saga, reserved(), T0)
    return saga, engine.on_reply(saga, authorized(), T0)


def test_an_order_created_starts_by_reserving_its_items(engine):
    saga, commands = started(engine)
    assert names(commands) == ["ReserveStock"]
    assert commands[0].items[0].model_dump() == {"sku": "SKU-1", "quantity": 2}
    assert (saga.state, saga.current_step) == (SagaState.RUNNING, "reserve_stock")
    assert saga.deadline == T0 + timedelta(seconds=5)


def test_the_happy_path_reserves_authorises_captures_commits_and_approves(engine):
    saga, commands = run_to_authorized(engine)
    assert names(commands) == ["CapturePayment"]
    assert saga.data["payment_id"] == "p1"
    captured = payment.PaymentCaptured(order_id=ORDER, payment_id="p1", amount_cents=1998)
    assert names(engine.on_reply(saga, captured, T0)) == ["CommitStock"]
    assert names(engine.on_reply(saga, inventory.StockCommitted(order_id=ORDER), T0)) == [
        "ApproveOrder"
    ]
    assert engine.on_reply(saga, orders.OrderApproved(order_id=ORDER), T0) == []
    assert saga.state is SagaState.COMPLETED
    assert saga.deadline is None


def test_out_of_stock_rejects_the_order_with_nothing_to_undo(engine):
    saga, _ = started(engine)
    failed = inventory.StockReservationFailed(order_id=ORDER, reason="OUT_OF_STOCK", skus=["SKU-1"])
    commands = engine.on_reply(saga, failed, T0)
    assert names(commands) == ["RejectOrder"]
    assert commands[0].reason == "OUT_OF_STOCK"
    assert saga.state is SagaState.ABORTING
    engine.on_reply(saga, orders.OrderRejected(order_id=ORDER, reason="OUT_OF_STOCK"), T0)
    assert saga.state is SagaState.ABORTED


@pytest.mark.parametrize("reason", ["PAYMENT_DECLINED", "INSUFFICIENT_FUNDS"])
def test_a_declined_payment_releases_the_stock_then_rejects_with_the_reason(engine, reason):
    saga, _ = started(engine)
    engine.on_reply(saga, reserved(), T0)
    declined = payment.PaymentDeclined(
        order_id=ORDER, payment_id="p1", amount_cents=1998, reason=reason
    )
    assert names(engine.on_reply(saga, declined, T0)) == ["ReleaseStock"]
    assert saga.state is SagaState.COMPENSATING
    commands = engine.on_reply(saga, inventory.StockReleased(order_id=ORDER), T0)
    assert names(commands) == ["RejectOrder"]
    assert commands[0].reason == reason


def test_an_unanswered_payment_times_out_voids_it_releases_stock_and_rejects(engine):
    saga, _ = started(engine)
    engine.on_reply(saga, reserved(), T0)
    assert engine.on_timeout(saga, T0 + timedelta(seconds=4)) == [], "not yet due"
    commands = engine.on_timeout(saga, T0 + timedelta(seconds=6))
    assert names(commands) == ["VoidPayment"], "the timed-out step is undone first"
    later = T0 + timedelta(seconds=7)
    assert names(
        engine.on_reply(
            saga, payment.PaymentVoided(order_id=ORDER, payment_id="p1", amount_cents=0), later
        )
    ) == ["ReleaseStock"]
    commands = engine.on_reply(saga, inventory.StockReleased(order_id=ORDER), later)
    assert [(names(commands), commands[0].reason)] == [(["RejectOrder"], "TIMEOUT")]
    assert saga.status_of("authorize_payment") is StepStatus.COMPENSATED


def test_a_late_reply_after_the_timeout_is_recorded_and_never_applied(engine):
    saga, _ = started(engine)
    engine.on_reply(saga, reserved(), T0)
    engine.on_timeout(saga, T0 + timedelta(seconds=6))
    assert engine.on_reply(saga, authorized(), T0 + timedelta(seconds=7)) == []
    assert saga.state is SagaState.COMPENSATING
    assert saga.log[-1].status is StepStatus.REPLY_IGNORED
    assert "payment_id" not in saga.data


def test_duplicate_and_reordered_replies_are_ignored(engine):
    saga, _ = run_to_authorized(engine)
    version_of_log = len(saga.log)
    assert engine.on_reply(saga, reserved(), T0) == []
    assert engine.on_reply(saga, inventory.StockCommitted(order_id=ORDER), T0) == []
    assert saga.current_step == "capture_payment"
    assert [e.status for e in saga.log[version_of_log:]] == [StepStatus.REPLY_IGNORED] * 2


def test_steps_past_the_point_of_no_return_are_resent_after_a_backoff_not_compensated(engine):
    saga, _ = run_to_authorized(engine)
    assert engine.on_timeout(saga, T0 + timedelta(seconds=6)) == [], "a pause first"
    assert saga.backing_off and saga.deadline > T0 + timedelta(seconds=6)

    commands = engine.on_timeout(saga, saga.deadline)
    assert names(commands) == ["CapturePayment"]
    assert saga.state is SagaState.RUNNING
    assert saga.attempts == 2
    assert not saga.backing_off
    assert saga.log[-1].status is StepStatus.RETRIED


def test_a_compensation_that_keeps_failing_is_parked_visibly_and_an_operator_can_retry(engine):
    saga, _ = started(engine)
    engine.on_timeout(saga, T0 + timedelta(seconds=6))  # reserve timed out: release it
    now = T0 + timedelta(seconds=6)
    for _ in range(5):
        now += timedelta(minutes=5)
        engine.on_timeout(saga, now)
    assert saga.state is SagaState.COMPENSATION_FAILED
    assert saga.deadline is None
    assert names(engine.retry(saga, now)) == ["ReleaseStock"]
    assert saga.state is SagaState.COMPENSATING
    engine.on_reply(saga, inventory.StockReleased(order_id=ORDER), now)
    assert saga.state is SagaState.ABORTING


def test_retrying_an_ended_saga_is_refused(engine):
    saga, _ = started(engine)
    engine.on_reply(
        saga,
        inventory.StockReservationFailed(
            order_id=ORDER, reason="PRODUCT_UNAVAILABLE", skus=["SKU-1"]
        ),
        T0,
    )
    engine.on_reply(saga, orders.OrderRejected(order_id=ORDER, reason="PRODUCT_UNAVAILABLE"), T0)
    with pytest.raises(NothingToRetry):
        engine.retry(saga, T0)


def test_the_cancellation_saga_refunds_returns_stock_and_completes_the_cancellation():
    engine = SagaEngine(cancellation_saga())
    saga, commands = engine.start("saga-2", orders.OrderCancellationRequested(order_id=ORDER), T0)
    assert names(commands) == ["RefundPayment"]
    refunded = payment.PaymentRefunded(order_id=ORDER, payment_id="p1", amount_cents=1998)
    assert names(engine.on_reply(saga, refunded, T0)) == ["ReturnStock"]
    assert names(engine.on_reply(saga, inventory.StockReturned(order_id=ORDER), T0)) == [
        "CompleteCancellation"
    ]
    engine.on_reply(saga, orders.OrderCancelled(order_id=ORDER), T0)
    assert saga.state is SagaState.COMPLETED
