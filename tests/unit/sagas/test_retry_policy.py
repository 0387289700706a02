"""A step's retry policy (no I/O): an unanswered command is sent again after a pause, up to its
attempts and its overall deadline, then the step times out and is compensated; a failure reply
is final at once. Steps past the point of no return and compensations are resent with the same
backoff. Any copy's reply is the awaited reply."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts import inventory, payment
from sagas.definitions import checkout_saga
from sagas.framework.definition import RetryPolicy, Step
from sagas.framework.engine import SagaEngine, SagaInstance, SagaState, StepStatus
from tests.unit.sagas.checkout_messages import (
    ORDER,
    T0,
    authorized,
    created,
    declined,
    names,
    reserved,
    voided,
)

TIMEOUT_S = 5
ATTEMPTS = 3
BASE_DELAY_S = 1.0


def engine_with(**options) -> SagaEngine:
    settings = {
        "reply_timeout_s": TIMEOUT_S,
        "payment_timeout_s": TIMEOUT_S,
        "retry_base_delay_s": BASE_DELAY_S,
        "step_attempts": ATTEMPTS,
        "max_compensation_attempts": 3,
        **options,
    }
    return SagaEngine(checkout_saga(**settings))


@pytest.fixture
def engine() -> SagaEngine:
    return engine_with()


def started(engine: SagaEngine, saga_id: str = "saga-1") -> SagaInstance:
    saga, _ = engine.start(saga_id, created(), T0)
    return saga


def awaiting_payment(engine: SagaEngine) -> SagaInstance:
    saga = started(engine)
    engine.on_reply(saga, reserved(), T0)
    assert saga.current_step == "authorize_payment"
    return saga


def at_deadline(engine: SagaEngine, saga: SagaInstance) -> list[str]:
    """Let the saga's deadline (a reply's, or a pause's) pass, as the timeout loop would."""
    assert saga.deadline is not None
    return names(engine.on_timeout(saga, saga.deadline))


def entries(saga: SagaInstance, step: str) -> list[tuple[StepStatus, str]]:
    return [(e.status, e.detail) for e in saga.log if e.step == step]


class TestTheBackoff:
    def test_the_pause_doubles_with_each_resend_up_to_its_cap_with_jitter(self):
        policy = RetryPolicy(attempts=None, base_delay_s=1.0, max_delay_s=8.0)
        for attempt, ceiling in [(2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 8.0), (900, 8.0)]:
            pause = policy.backoff_s("saga-1", attempt)
            assert ceiling / 2 <= pause < ceiling, (attempt, pause)

    def test_the_jitter_is_the_same_for_a_saga_and_attempt_and_spreads_sagas_apart(self):
        policy = RetryPolicy(attempts=3, base_delay_s=1.0)
        assert policy.backoff_s("saga-1", 2) == policy.backoff_s("saga-1", 2)
        pauses = {policy.backoff_s(f"saga-{n}", 2) for n in range(50)}
        assert len(pauses) == 50, "sagas timed out together do not resend together"

    def test_a_retriable_step_is_resent_until_answered_and_a_compensatable_one_gives_up(self):
        with pytest.raises(ValueError, match="resent until answered"):
            Step("capture", lambda d: authorized(), (payment.PaymentCaptured,), retriable=True)
        with pytest.raises(ValueError, match="must give up"):
            Step(
                "reserve",
                lambda d: authorized(),
                (inventory.StockReserved,),
                retry=RetryPolicy(attempts=None),
            )


class TestAnUnansweredStep:
    def test_pauses_then_resends_the_same_command_with_a_full_window(self, engine):
        saga = awaiting_payment(engine)
        timed_out_at = saga.deadline

        assert at_deadline(engine, saga) == [], "a pause before the resend"
        assert saga.backing_off and saga.attempts == 1
        pause = engine.definition.step("authorize_payment").retry.backoff_s("saga-1", 2)
        assert saga.deadline == timed_out_at + timedelta(seconds=pause)

        resent_at = saga.deadline
        assert at_deadline(engine, saga) == ["AuthorizePayment"]
        assert (saga.attempts, saga.backing_off) == (2, False)
        assert saga.deadline == resent_at + timedelta(seconds=TIMEOUT_S)
        assert entries(saga, "authorize_payment")[-1] == (StepStatus.RETRIED, "attempt 2")

    def test_is_timed_out_after_its_attempts_and_compensated_with_reason_timeout(self, engine):
        saga = awaiting_payment(engine)
        sent = ["AuthorizePayment"]
        while saga.current_step == "authorize_payment" and saga.state is SagaState.RUNNING:
            sent += at_deadline(engine, saga)

        assert sent == ["AuthorizePayment"] * ATTEMPTS + ["VoidPayment"]
        assert entries(saga, "authorize_payment") == [
            (StepStatus.STARTED, ""),
            (StepStatus.RETRIED, "attempt 2"),
            (StepStatus.RETRIED, "attempt 3"),
            (StepStatus.TIMED_OUT, f"no reply to {ATTEMPTS} attempts of {TIMEOUT_S}s"),
            (StepStatus.COMPENSATING, ""),
        ]
        assert saga.failure_reason == "TIMEOUT"
        assert names(engine.on_reply(saga, voided(), saga.deadline)) == ["ReleaseStock"]
        commands = engine.on_reply(saga, inventory.StockReleased(order_id=ORDER), saga.deadline)
        assert [(type(c).__name__, c.reason) for c in commands] == [("RejectOrder", "TIMEOUT")]

    def test_is_given_up_at_its_overall_deadline_before_its_attempts_run_out(self):
        engine = engine_with(step_attempts=10, step_deadline_s=2 * TIMEOUT_S)
        saga = awaiting_payment(engine)
        sent = []
        while saga.current_step == "authorize_payment" and saga.state is SagaState.RUNNING:
            sent += at_deadline(engine, saga)

        assert sent == ["AuthorizePayment", "VoidPayment"], "one resend fits in the deadline"
        assert saga.log[-2].status is StepStatus.TIMED_OUT
        assert saga.log[-2].detail == f"no reply within the step's {2 * TIMEOUT_S}s"

    def test_one_attempt_times_out_at_the_first_deadline_as_before_the_policy(self):
        engine = engine_with(step_attempts=1)
        saga = awaiting_payment(engine)

        assert at_deadline(engine, saga) == ["VoidPayment"]
        assert saga.log[-2].detail == f"no reply within {TIMEOUT_S}s"


class TestRepliesToACommandSentSeveralTimes:
    def test_a_reply_during_the_pause_is_the_awaited_reply(self, engine):
        saga = awaiting_payment(engine)
        at_deadline(engine, saga)
        assert saga.backing_off

        assert names(engine.on_reply(saga, authorized(), saga.deadline)) == ["CapturePayment"]
        assert (saga.current_step, saga.attempts, saga.backing_off) == ("capture_payment", 1, False)

    def test_the_first_copys_late_answer_moves_on_and_the_resends_answer_is_ignored(self, engine):
        saga = awaiting_payment(engine)
        at_deadline(engine, saga)
        assert at_deadline(engine, saga) == ["AuthorizePayment"]

        assert names(engine.on_reply(saga, authorized(), saga.deadline)) == ["CapturePayment"]
        assert engine.on_reply(saga, authorized(), saga.deadline) == []
        assert saga.log[-1].status is StepStatus.REPLY_IGNORED
        assert saga.current_step == "capture_payment"

    def test_a_decline_is_final_and_never_retried(self, engine):
        saga = awaiting_payment(engine)

        assert names(engine.on_reply(saga, declined(), T0)) == ["ReleaseStock"]
        assert saga.failure_reason == "PAYMENT_DECLINED"
        assert [status for status, _ in entries(saga, "authorize_payment")] == [
            StepStatus.STARTED,
            StepStatus.FAILED,
        ]

    def test_a_decline_of_a_resent_payment_is_final_too(self, engine):
        saga = awaiting_payment(engine)
        at_deadline(engine, saga)
        at_deadline(engine, saga)

        assert names(engine.on_reply(saga, declined(), saga.deadline)) == ["ReleaseStock"]
        assert (saga.state, saga.failure_reason) == (SagaState.COMPENSATING, "PAYMENT_DECLINED")


class TestOneBackoffForEveryResend:
    def test_a_step_past_the_point_of_no_return_pauses_as_the_policy_says_and_never_gives_up(
        self, engine
    ):
        saga = awaiting_payment(engine)
        engine.on_reply(saga, authorized(), T0)
        policy = engine.definition.step("capture_payment").retry
        for attempt in range(2, 40):
            timed_out_at = saga.deadline
            assert at_deadline(engine, saga) == []
            assert saga.deadline == timed_out_at + timedelta(
                seconds=policy.backoff_s("saga-1", attempt)
            )
            assert at_deadline(engine, saga) == ["CapturePayment"]
        assert (saga.state, saga.attempts) == (SagaState.RUNNING, 39)

    def test_a_compensation_pauses_as_the_compensation_policy_says_then_parks(self, engine):
        saga = awaiting_payment(engine)
        engine.on_reply(saga, declined(), T0)
        policy = engine.definition.compensation_retry
        timed_out_at = saga.deadline

        assert at_deadline(engine, saga) == []
        assert saga.deadline == timed_out_at + timedelta(seconds=policy.backoff_s("saga-1", 2))
        assert at_deadline(engine, saga) == ["ReleaseStock"]
        assert saga.log[-1].status is StepStatus.COMPENSATION_RETRIED
        at_deadline(engine, saga)
        at_deadline(engine, saga)
        assert at_deadline(engine, saga) == []
        assert saga.state is SagaState.COMPENSATION_FAILED
        assert saga.log[-1].detail == "unanswered after 3 attempts"

    def test_an_operator_retry_sends_at_once_with_fresh_attempts_and_deadline(self):
        engine = engine_with(step_deadline_s=60)
        saga = awaiting_payment(engine)
        at_deadline(engine, saga)
        at_deadline(engine, saga)
        retried_at = T0 + timedelta(minutes=10)

        assert names(engine.retry(saga, retried_at)) == ["AuthorizePayment"]
        assert (saga.attempts, saga.backing_off) == (1, False)
        assert saga.step_deadline == retried_at + timedelta(seconds=60)
        assert saga.log[-1].detail == "operator retry"
