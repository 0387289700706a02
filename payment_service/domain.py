"""Payments and the card processor port: the rules, with no I/O.

One payment per order. Money moves only AUTHORIZED -> CAPTURED (-> REFUNDED); an authorisation
can be VOIDED instead. A processor that never answers leaves the attempt PENDING, invisible to
the storefront, until the saga voids it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    DECLINED = "DECLINED"
    CAPTURED = "CAPTURED"
    VOIDED = "VOIDED"
    REFUNDED = "REFUNDED"


class PaymentStateError(Exception):
    """A command the payment's state does not allow (a saga protocol error)."""


@dataclass(frozen=True)
class Payment:
    payment_id: str
    order_id: str
    customer_id: str
    amount_cents: int
    status: PaymentStatus
    decline_reason: str | None = None

    def _to(self, status: PaymentStatus, allowed_from: set[PaymentStatus]) -> Payment:
        if self.status is status:
            return self
        if self.status not in allowed_from:
            raise PaymentStateError(
                f"payment {self.payment_id} is {self.status}, not "
                f"{' or '.join(sorted(allowed_from))}: cannot become {status}"
            )
        return replace(self, status=status)

    def captured(self) -> Payment:
        return self._to(PaymentStatus.CAPTURED, {PaymentStatus.AUTHORIZED})

    def voided(self) -> Payment:
        """Declined or voided payments stay as they are: nothing was taken."""
        if self.status in (PaymentStatus.DECLINED, PaymentStatus.VOIDED):
            return self
        return self._to(PaymentStatus.VOIDED, {PaymentStatus.AUTHORIZED, PaymentStatus.PENDING})

    def refunded(self) -> Payment:
        return self._to(PaymentStatus.REFUNDED, {PaymentStatus.CAPTURED})


@dataclass(frozen=True)
class Approved:
    pass


@dataclass(frozen=True)
class Declined:
    reason: str


@dataclass(frozen=True)
class NoAnswer:
    pass


Decision = Approved | Declined | NoAnswer


class PaymentProcessor(Protocol):
    def authorize(self, payment_method: str, amount_cents: int) -> Decision: ...


class SimulatedProcessor:
    """The test tokens of the storefront contract, as card processors' test modes offer."""

    def authorize(self, payment_method: str, amount_cents: int) -> Decision:
        match payment_method:
            case "tok_visa":
                return Approved()
            case "tok_insufficient_funds":
                return Declined("INSUFFICIENT_FUNDS")
            case "tok_timeout":
                return NoAnswer()
        return Declined("PAYMENT_DECLINED")


def outcome_of(decision: Decision) -> tuple[PaymentStatus, str | None]:
    match decision:
        case Approved():
            return PaymentStatus.AUTHORIZED, None
        case Declined(reason=reason):
            return PaymentStatus.DECLINED, reason
    return PaymentStatus.PENDING, None
