"""Late replies to the checkout saga (no I/O): an answer that comes after a timeout, a resend,
an operator's retry or parking. A reply that answers a command the saga still needs moves it
on, whatever its state; a duplicate or a reply that proves nothing changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eventing.registry import Event
from sagas.definitions import checkout_saga
from sagas.framework.engine import SagaEngine, SagaState, StepStatus
from tests.unit.sagas.checkout_messages import (
    T0,
    approved,
    authorized,
    captured,
    committed,
    created,
    declined,
    names,
    rejected,
    released,
    reservation_failed,
    reserved,
    voided,
)

MAX_COMPENSATION_ATTEMPTS = 3


@pytest.fixture
def engine() -> SagaEngine:
    """One attempt per step, so that a timeout gives the step up; late answers to resent
    steps are in test_retry_policy."""
    return SagaEngine(
        checkout_saga(
            reply_timeout_s=5,
            payment_timeout_s=5,
            max_compensation_attempts=MAX_COMPENSATION_ATTEMPTS,
            step_attempts=1,
        )
    )


class Run:
    """One saga instance and every command the engine sent for it, on a clock of its own."""

    def __init__(self, engine: SagaEngine):
        self.engine = engine
        self.now = T0
        self.saga, first = engine.start("saga-1", created(), self.now)
        self.sent: list[Event] = list(first)

    def reply(self, event: Event) -> list[str]:
        commands = self.engine.on_reply(self.saga, event, self.now)
        self.sent += commands
        return names(commands)

    def time_out(self, times: int = 1) -> list[str]:
        """Let the awaited command go unanswered `times` times: each time its deadline passes
        and, when the saga then pauses before sending it again, the pause too."""
        commands: list[Event] = []
        for _ in range(times):
            commands += self._pass_deadline()
            if self.saga.backing_off:
                commands += self._pass_deadline()
        self.sent += commands
        return names(commands)

    def _pass_deadline(self) -> list[Event]:
        assert self.saga.deadline is not None, "nothing is awaited"
        self.now = self.saga.deadline + timedelta(seconds=1)
        return self.engine.on_timeout(self.saga, self.now)

    def retry(self) -> list[str]:
        commands = self.engine.retry(self.saga, self.now)
        self.sent += commands
        return names(commands)

    def sent_names(self) -> list[str]:
        return names(self.sent)

    @property
    def last(self):
        return self.saga.log[-1]


def payment_timed_out(engine: SagaEngine) -> Run:
    """Stock held, the payment unanswered: the saga is voiding it."""
    run = Run(engine)
    run.reply(reserved())
    assert run.time_out() == ["VoidPayment"]
    return run


def parked_on_the_void(engine: SagaEngine) -> Run:
    """The payment timed out and its VoidPayment went unanswered every time."""
    run = payment_timed_out(engine)
    run.time_out(MAX_COMPENSATION_ATTEMPTS)
    assert (run.saga.state, run.saga.current_step) == (
        SagaState.COMPENSATION_FAILED,
        "authorize_payment",
    )
    return run


def parked_on_the_release(engine: SagaEngine) -> Run:
    """The payment was voided, then the inventory service went down: ReleaseStock went
    unanswered every time (the operator drill's saga)."""
    run = payment_timed_out(engine)
    assert run.reply(voided()) == ["ReleaseStock"]
    run.time_out(MAX_COMPENSATION_ATTEMPTS)
    assert (run.saga.state, run.saga.current_step) == (
        SagaState.COMPENSATION_FAILED,
        "reserve_stock",
    )
    return run


def assert_parked_unchanged(run: Run, step: str) -> None:
    assert (run.saga.state, run.saga.current_step) == (SagaState.COMPENSATION_FAILED, step)
    assert run.saga.deadline is None
    assert run.last.status is StepStatus.REPLY_IGNORED


class TestTheAnswerToAParkedCompensation:
    def test_stock_released_after_parking_goes_on_to_reject_the_order(self, engine):
        run = parked_on_the_release(engine)

        assert run.reply(released()) == ["RejectOrder"]
        assert run.sent[-1].reason == "TIMEOUT"
        assert run.saga.state is SagaState.ABORTING
        assert run.saga.status_of("reserve_stock") is StepStatus.COMPENSATED
        assert run.saga.log[-2].detail == "after parking"
        assert run.reply(rejected()) == []
        assert run.saga.state is SagaState.ABORTED

    def test_a_payment_voided_after_parking_goes_on_to_release_the_stock(self, engine):
        run = parked_on_the_void(engine)

        assert run.reply(voided()) == ["ReleaseStock"]
        assert (run.saga.state, run.saga.current_step) == (
            SagaState.COMPENSATING,
            "reserve_stock",
        )
        assert run.saga.attempts == 1, "the next compensation gets attempts of its own"
        assert run.saga.deadline == run.now + timedelta(seconds=5)

    def test_a_parked_saga_is_not_moved_by_replies_that_prove_nothing(self, engine):
        run = parked_on_the_release(engine)

        for proves_nothing in (reserved(), voided(), authorized(), captured(), rejected()):
            assert run.reply(proves_nothing) == []
            assert_parked_unchanged(run, "reserve_stock")

    def test_a_late_authorisation_of_the_payment_it_is_voiding_is_never_used(self, engine):
        run = parked_on_the_void(engine)

        assert run.reply(authorized()) == []
        assert_parked_unchanged(run, "authorize_payment")
        assert "payment_id" not in run.saga.data
        assert "CapturePayment" not in run.sent_names()

    def test_a_parked_saga_does_not_time_out_again(self, engine):
        run = parked_on_the_release(engine)

        assert engine.on_timeout(run.saga, run.now + timedelta(days=1)) == []
        assert run.saga.state is SagaState.COMPENSATION_FAILED


class TestAnswersAfterResendsAndRetries:
    def test_a_compensation_answered_after_its_resends_moves_on_once(self, engine):
        run = payment_timed_out(engine)
        run.reply(voided())
        assert run.time_out(MAX_COMPENSATION_ATTEMPTS - 1) == ["ReleaseStock"] * 2

        answers = [run.reply(released()) for _ in range(MAX_COMPENSATION_ATTEMPTS)]

        assert answers == [["RejectOrder"], [], []], "one copy answers, the others are ignored"
        assert run.saga.state is SagaState.ABORTING
        assert run.sent_names().count("RejectOrder") == 1

    def test_the_answer_to_the_original_command_finishes_a_retried_saga(self, engine):
        run = parked_on_the_release(engine)
        assert run.retry() == ["ReleaseStock"]

        assert run.reply(released()) == ["RejectOrder"]
        assert run.reply(released()) == [], "the retried command's answer is a duplicate"
        assert run.saga.state is SagaState.ABORTING

    def test_a_retry_that_parks_again_is_still_finished_by_the_late_answer(self, engine):
        """The drill's defect: the retried release went unanswered while the worker was
        joining its group, the saga parked again, and then the worker answered."""
        run = parked_on_the_release(engine)
        run.retry()
        run.time_out(MAX_COMPENSATION_ATTEMPTS)
        assert run.saga.state is SagaState.COMPENSATION_FAILED

        assert run.reply(released()) == ["RejectOrder"]
        run.reply(rejected())
        assert run.saga.state is SagaState.ABORTED
        statuses = [e.status for e in run.saga.log if e.step == "reserve_stock"]
        assert statuses.count(StepStatus.COMPENSATION_FAILED) == 2
        assert statuses[-1] is StepStatus.COMPENSATED

    def test_a_step_past_the_point_of_no_return_answered_after_its_resend_moves_on(self, engine):
        run = Run(engine)
        run.reply(reserved())
        run.reply(authorized())
        assert run.time_out() == ["CapturePayment"]

        assert run.reply(captured()) == ["CommitStock"]
        assert run.reply(captured()) == [], "the resent capture's answer is a duplicate"
        assert run.saga.current_step == "commit_stock"

    def test_the_rejection_answered_after_its_resend_aborts_the_saga(self, engine):
        run = parked_on_the_release(engine)
        run.reply(released())
        assert run.time_out() == ["RejectOrder"]

        assert run.reply(rejected()) == []
        assert run.saga.state is SagaState.ABORTED
        assert run.reply(rejected()) == []
        assert run.last.status is StepStatus.REPLY_IGNORED


class TestALateAnswerToATimedOutStep:
    def test_a_payment_declined_after_its_timeout_leaves_nothing_to_void(self, engine):
        run = payment_timed_out(engine)

        assert run.reply(declined()) == ["ReleaseStock"], "the stock is released next"
        assert run.saga.status_of("authorize_payment") is StepStatus.FAILED
        assert run.saga.log[-2].detail == "PAYMENT_DECLINED after the timeout: nothing to undo"
        assert run.saga.failure_reason == "TIMEOUT", "the reason the saga gave up"

        assert run.reply(voided()) == [], "the void's own answer comes after it: ignored"
        assert run.reply(released()) == ["RejectOrder"]
        assert run.sent[-1].reason == "TIMEOUT"

    def test_a_reservation_failure_after_its_timeout_ends_the_parked_release(self, engine):
        run = Run(engine)
        assert run.time_out() == ["ReleaseStock"]
        run.time_out(MAX_COMPENSATION_ATTEMPTS)
        assert run.saga.state is SagaState.COMPENSATION_FAILED

        assert run.reply(reservation_failed()) == ["RejectOrder"]
        assert run.saga.state is SagaState.ABORTING
        assert run.saga.status_of("reserve_stock") is StepStatus.FAILED

    def test_a_late_authorisation_is_voided_not_used(self, engine):
        run = payment_timed_out(engine)

        assert run.reply(authorized()) == []
        assert (run.saga.state, run.saga.current_step) == (
            SagaState.COMPENSATING,
            "authorize_payment",
        )
        assert run.reply(voided()) == ["ReleaseStock"]
        assert "CapturePayment" not in run.sent_names()

    def test_a_failure_contradicting_a_recorded_success_is_ignored(self, engine):
        run = Run(engine)
        run.reply(reserved())
        assert run.reply(declined()) == ["ReleaseStock"]

        assert run.reply(reservation_failed()) == []
        assert (run.saga.state, run.saga.current_step) == (
            SagaState.COMPENSATING,
            "reserve_stock",
        ), "the stock it holds must still be released"


ALL_REPLIES = [
    reserved,
    reservation_failed,
    released,
    authorized,
    declined,
    voided,
    captured,
    committed,
    approved,
    rejected,
]


def completed(engine: SagaEngine) -> Run:
    run = Run(engine)
    for reply in (reserved(), authorized(), captured(), committed(), approved()):
        run.reply(reply)
    assert run.saga.state is SagaState.COMPLETED
    return run


def aborted(engine: SagaEngine) -> Run:
    run = parked_on_the_release(engine)
    run.reply(released())
    run.reply(rejected())
    assert run.saga.state is SagaState.ABORTED
    return run


@pytest.mark.parametrize("ended", [completed, aborted])
@pytest.mark.parametrize("reply", ALL_REPLIES)
def test_no_reply_changes_an_ended_saga(engine, ended, reply):
    run = ended(engine)
    state, data = run.saga.state, dict(run.saga.data)

    assert run.reply(reply()) == []
    assert (run.saga.state, run.saga.current_step, run.saga.deadline) == (state, None, None)
    assert run.saga.data == data
    assert run.last.status is StepStatus.REPLY_IGNORED
