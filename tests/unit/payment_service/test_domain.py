"""The payment state machine and the simulated processor, without a database."""

import pytest

from payment_service.domain import (
    Approved,
    Declined,
    NoAnswer,
    Payment,
    PaymentStateError,
    PaymentStatus,
    SimulatedProcessor,
)


def payment(status: PaymentStatus) -> Payment:
    return Payment("p-1", "o-1", "c-1", 1000, status)


@pytest.mark.parametrize(
    ("token", "decision"),
    [
        ("tok_visa", Approved()),
        ("tok_declined", Declined("PAYMENT_DECLINED")),
        ("tok_insufficient_funds", Declined("INSUFFICIENT_FUNDS")),
        ("tok_timeout", NoAnswer()),
        ("tok_unknown", Declined("PAYMENT_DECLINED")),
    ],
)
def test_the_simulated_processor_follows_the_contracts_test_tokens(token, decision):
    assert SimulatedProcessor().authorize(token, 1000) == decision


def test_money_moves_authorized_to_captured_to_refunded_and_repeats_are_no_ops():
    captured = payment(PaymentStatus.AUTHORIZED).captured()
    assert captured.status is PaymentStatus.CAPTURED
    assert captured.captured() == captured
    assert captured.refunded().status is PaymentStatus.REFUNDED


@pytest.mark.parametrize("status", [PaymentStatus.AUTHORIZED, PaymentStatus.PENDING])
def test_an_authorisation_or_an_unanswered_attempt_can_be_voided(status):
    assert payment(status).voided().status is PaymentStatus.VOIDED


def test_declined_and_voided_payments_stay_as_they_are_when_voided():
    for status in (PaymentStatus.DECLINED, PaymentStatus.VOIDED):
        assert payment(status).voided().status is status


@pytest.mark.parametrize(
    ("status", "move"),
    [
        (PaymentStatus.CAPTURED, "voided"),
        (PaymentStatus.DECLINED, "captured"),
        (PaymentStatus.VOIDED, "captured"),
        (PaymentStatus.AUTHORIZED, "refunded"),
    ],
)
def test_moves_the_state_does_not_allow_are_refused(status, move):
    with pytest.raises(PaymentStateError):
        getattr(payment(status), move)()
