"""Deadlines count from when a command left, not from when it was written (no I/O): the
orchestrator's store tells `on_timeout` how long the awaited copy waited in the outbox
(`sent_after`), and both the attempt's window and the step's overall deadline move by as much.
A pause before a resend awaits no command, so nothing moves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts import orders
from sagas.definitions import checkout_saga
from sagas.framework.engine import SagaEngine, SagaInstance, SagaState, StepStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TIMEOUT_S = 10
OUTAGE = timedelta(minutes=3)


def engine_with(**options) -> SagaEngine:
    return SagaEngine(
        checkout_saga(reply_timeout_s=TIMEOUT_S, payment_timeout_s=TIMEOUT_S, **options)
    )


def started(engine: SagaEngine) -> SagaInstance:
    created = orders.OrderCreated(
        order_id="order-1",
        customer_id="c1",
        payment_method="tok_visa",
        total_cents=1998,
        items=[{"sku": "SKU-1", "quantity": 2, "unit_price_cents": 999}],
    )
    saga, _ = engine.start("saga-1", created, T0)
    return saga


def seconds(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


def test_the_deadline_is_written_as_if_the_command_left_at_once():
    saga = started(engine_with())
    assert saga.deadline == seconds(TIMEOUT_S)
    assert saga.awaited_command_id is None, "the orchestrator names the copy it stored"


def test_a_command_published_late_gets_its_whole_window_from_its_publish():
    engine = engine_with(step_attempts=1)
    saga = started(engine)
    published = T0 + OUTAGE

    assert engine.on_timeout(saga, published, sent_after=OUTAGE) == []
    almost = published + timedelta(seconds=TIMEOUT_S - 0.1)
    assert engine.on_timeout(saga, almost, sent_after=OUTAGE) == []
    assert saga.state is SagaState.RUNNING and saga.log[-1].status is StepStatus.STARTED

    timed_out = engine.on_timeout(saga, published + timedelta(seconds=TIMEOUT_S), sent_after=OUTAGE)
    assert [type(c).__name__ for c in timed_out] == ["ReleaseStock"]


def test_the_steps_overall_deadline_counts_from_the_first_publish():
    engine = engine_with(step_attempts=5, step_deadline_s=2 * TIMEOUT_S)
    saga = started(engine)
    assert saga.step_deadline == seconds(2 * TIMEOUT_S)
    first_timeout = T0 + OUTAGE + timedelta(seconds=TIMEOUT_S)

    assert engine.on_timeout(saga, first_timeout, sent_after=OUTAGE) == []
    assert saga.backing_off, "resent after a pause, not given up for the outage"
    assert saga.step_deadline == seconds(2 * TIMEOUT_S) + OUTAGE


def test_a_pause_before_a_resend_is_not_moved_by_the_last_copys_wait():
    engine = engine_with()
    saga = started(engine)
    engine.on_timeout(saga, seconds(TIMEOUT_S))
    assert saga.backing_off
    pause_end = saga.deadline
    assert pause_end is not None

    commands = engine.on_timeout(saga, pause_end, sent_after=OUTAGE)
    assert [type(c).__name__ for c in commands] == ["ReserveStock"]


def test_every_new_copy_stops_the_deadline_depending_on_the_previous_one():
    engine = engine_with()
    saga = started(engine)
    saga.awaited_command_id = "the-first-copy"
    engine.on_timeout(saga, seconds(TIMEOUT_S))
    assert saga.awaited_command_id is None, "a pause awaits no copy"
    saga.awaited_command_id = "stale"
    engine.on_timeout(saga, saga.deadline)
    assert saga.awaited_command_id is None, "the resend's id is the orchestrator's to set"
