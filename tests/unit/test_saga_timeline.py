"""A saga drawn against its definition (shopctl.timeline): what is done, what is in flight
with its deadline, what is still to come, and which compensations ran or wait. The sagas are
driven through the real checkout definition and engine; only the clock is made up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts import inventory, orders, payment
from sagas.definitions import checkout_saga
from sagas.framework.engine import SagaEngine, SagaState
from shopctl.timeline import Phase, build_timeline

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ORDER = "order-1"
STEPS = ["reserve_stock", "authorize_payment", "capture_payment", "commit_stock", "approve_order"]


@pytest.fixture
def engine() -> SagaEngine:
    """One attempt per step: each timeout here gives the step up (retries: test_retry_policy)."""
    return SagaEngine(
        checkout_saga(
            reply_timeout_s=5,
            payment_timeout_s=5,
            max_compensation_attempts=2,
            step_attempts=1,
        )
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def started(engine):
    created = orders.OrderCreated(
        order_id=ORDER,
        customer_id="c1",
        payment_method="tok_visa",
        total_cents=1998,
        items=[{"sku": "SKU-1", "quantity": 2, "unit_price_cents": 999}],
    )
    saga, _ = engine.start("saga-1", created, T0)
    return saga


def reserved():
    return inventory.StockReserved(order_id=ORDER, items=[{"sku": "SKU-1", "quantity": 2}])


def timeline(engine, saga):
    return build_timeline(engine.definition, saga)


def phases(steps) -> dict[str, Phase]:
    return {step.name: step.phase for step in steps}


def test_a_running_saga_shows_what_is_done_the_step_in_flight_with_its_deadline_and_what_is_to_come(
    engine,
):
    saga = started(engine)
    engine.on_reply(saga, reserved(), at(0.25))
    drawn = timeline(engine, saga)
    assert [step.name for step in drawn.steps] == STEPS
    assert phases(drawn.steps) == {
        "reserve_stock": Phase.DONE,
        "authorize_payment": Phase.IN_FLIGHT,
        "capture_payment": Phase.TO_COME,
        "commit_stock": Phase.TO_COME,
        "approve_order": Phase.TO_COME,
    }
    done, in_flight = drawn.steps[0], drawn.steps[1]
    assert (done.started_at, done.finished_at, done.duration) == (
        T0,
        at(0.25),
        timedelta(0.25 / 86400),
    )
    assert in_flight.deadline == at(5.25) and in_flight is drawn.in_flight
    assert phases(drawn.compensations) == {
        "authorize_payment": Phase.NOT_NEEDED,
        "reserve_stock": Phase.NOT_NEEDED,
    }
    assert drawn.on_abort is None, "nothing failed: no rejection is on the way"


def test_a_completed_checkout_has_its_five_steps_done_each_with_its_duration(engine):
    saga = started(engine)
    replies = [
        reserved(),
        payment.PaymentAuthorized(order_id=ORDER, payment_id="p1", amount_cents=1998),
        payment.PaymentCaptured(order_id=ORDER, payment_id="p1", amount_cents=1998),
        inventory.StockCommitted(order_id=ORDER),
        orders.OrderApproved(order_id=ORDER),
    ]
    for second, reply in enumerate(replies, start=1):
        engine.on_reply(saga, reply, at(second))
    drawn = timeline(engine, saga)
    assert saga.state is SagaState.COMPLETED
    assert set(phases(drawn.steps).values()) == {Phase.DONE}
    assert [step.duration for step in drawn.steps] == [timedelta(seconds=1)] * 5
    assert drawn.in_flight is None


def test_a_parked_compensation_shows_what_was_undone_what_waits_and_the_rejection_to_come(
    engine,
):
    saga = started(engine)
    engine.on_reply(saga, reserved(), at(1))
    engine.on_timeout(saga, at(7))  # the payment never answered: void it, then release
    engine.on_reply(
        saga, payment.PaymentVoided(order_id=ORDER, payment_id="p1", amount_cents=1998), at(8)
    )
    for second in (20, 40, 80):  # the release is never answered either
        engine.on_timeout(saga, at(second))
    assert saga.state is SagaState.COMPENSATION_FAILED
    drawn = timeline(engine, saga)
    assert phases(drawn.steps) == {
        "reserve_stock": Phase.DONE,
        "authorize_payment": Phase.TIMED_OUT,
        "capture_payment": Phase.SKIPPED,
        "commit_stock": Phase.SKIPPED,
        "approve_order": Phase.SKIPPED,
    }
    assert phases(drawn.compensations) == {
        "authorize_payment": Phase.COMPENSATED,
        "reserve_stock": Phase.PARKED,
    }
    parked = drawn.compensations[1]
    assert parked.attempts == 2 and "unanswered after 2 attempts" in parked.detail
    assert drawn.on_abort is not None and drawn.on_abort.phase is Phase.TO_COME


def test_after_an_operator_retry_the_compensation_is_in_flight_again_and_then_the_order_is_rejected(
    engine,
):
    saga = started(engine)
    engine.on_reply(saga, reserved(), at(1))
    engine.on_timeout(saga, at(7))
    engine.on_reply(
        saga, payment.PaymentVoided(order_id=ORDER, payment_id="p1", amount_cents=1998), at(8)
    )
    for second in (20, 40, 80):
        engine.on_timeout(saga, at(second))
    engine.retry(saga, at(100))
    drawn = timeline(engine, saga)
    assert drawn.in_flight is drawn.compensations[1]
    assert drawn.compensations[1].phase is Phase.COMPENSATING
    assert drawn.compensations[1].deadline is not None and drawn.compensations[1].deadline > at(100)

    engine.on_reply(saga, inventory.StockReleased(order_id=ORDER), at(101))
    drawn = timeline(engine, saga)
    assert drawn.compensations[1].phase is Phase.COMPENSATED
    assert drawn.on_abort.phase is Phase.IN_FLIGHT
    engine.on_reply(saga, orders.OrderRejected(order_id=ORDER, reason="TIMEOUT"), at(102))
    drawn = timeline(engine, saga)
    assert saga.state is SagaState.ABORTED
    assert drawn.on_abort.phase is Phase.DONE


def test_a_declined_payment_is_failed_and_only_the_reservation_is_undone(engine):
    saga = started(engine)
    engine.on_reply(saga, reserved(), at(1))
    engine.on_reply(
        saga,
        payment.PaymentDeclined(
            order_id=ORDER, payment_id="p1", amount_cents=1998, reason="PAYMENT_DECLINED"
        ),
        at(2),
    )
    drawn = timeline(engine, saga)
    assert drawn.steps[1].phase is Phase.FAILED and drawn.steps[1].detail == "PAYMENT_DECLINED"
    assert phases(drawn.compensations) == {
        "authorize_payment": Phase.NOT_NEEDED,
        "reserve_stock": Phase.COMPENSATING,
    }
    assert drawn.on_abort.phase is Phase.TO_COME
