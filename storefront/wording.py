"""What the shop's codes mean, in the words a customer reads: money, rejection reasons, the
checkout saga's steps and their statuses. Display only: every amount stays integer cents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The contract's test payment tokens, as a card processor's test mode labels them.
TEST_CARDS = {
    "tok_visa": "Test Visa card: approved",
    "tok_declined": "Test card: declined",
    "tok_insufficient_funds": "Test card: declined, insufficient funds",
    "tok_timeout": "Test card: the processor never answers",
}

REJECTION_REASONS = {
    "OUT_OF_STOCK": "Some of what you ordered is out of stock, so nothing was charged.",
    "PAYMENT_DECLINED": "Your card was declined, so nothing was charged.",
    "INSUFFICIENT_FUNDS": "Your card was declined for insufficient funds, so nothing was charged.",
    "TIMEOUT": "The payment processor did not answer in time, so nothing was charged.",
    "PRODUCT_UNAVAILABLE": "A product in your order is no longer sold, so nothing was charged.",
}

ORDER_STATUSES = {
    "PENDING": "Being processed",
    "APPROVED": "Approved",
    "REJECTED": "Rejected",
    "CANCELLED": "Cancelled",
}

STEP_NAMES = {
    "reserve_stock": "Reserve the items",
    "authorize_payment": "Authorize the payment",
    "capture_payment": "Take the payment",
    "commit_stock": "Take the items from stock",
    "approve_order": "Approve the order",
    "reject_order": "Reject the order",
    "refund_payment": "Refund the payment",
    "return_stock": "Put the items back in stock",
    "complete_cancellation": "Cancel the order",
}

STEP_STATUSES = {
    "STARTED": "in progress",
    "RETRIED": "in progress, asked again",
    "SUCCEEDED": "done",
    "FAILED": "failed",
    "TIMED_OUT": "timed out",
    "COMPENSATING": "being undone",
    "COMPENSATION_RETRIED": "being undone, asked again",
    "COMPENSATED": "undone",
    "COMPENSATION_FAILED": "could not be undone",
}

PAYMENT_STATUSES = {
    "AUTHORIZED": "authorized (held, not yet taken)",
    "CAPTURED": "taken",
    "VOIDED": "released, nothing taken",
    "DECLINED": "declined",
    "REFUNDED": "refunded",
}


def money(cents: int) -> str:
    """Integer cents as dollars, for display: 123456 -> "$1,234.56"."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def rejection(reason: str | None) -> str:
    if not reason:
        return "The order was rejected."
    return REJECTION_REASONS.get(reason, f"The order was rejected ({reason}).")


CANCELLATION_STEPS = {"refund_payment", "return_stock", "complete_cancellation"}


@dataclass(frozen=True)
class StepView:
    name: str
    label: str
    status: str
    status_text: str
    at: str


def saga_steps(saga: dict[str, Any] | None) -> list[StepView]:
    """The saga's log as one line per step, in the order the steps began, each with its
    latest status (a reply the saga ignored changes nothing the customer cares about)."""
    latest: dict[str, dict[str, Any]] = {}
    for entry in (saga or {}).get("steps") or []:
        if entry.get("status") == "REPLY_IGNORED":
            continue
        latest[entry["name"]] = {**latest.get(entry["name"], {}), **entry}
    return [
        StepView(
            name=name,
            label=STEP_NAMES.get(name, name.replace("_", " ").capitalize()),
            status=entry["status"],
            status_text=STEP_STATUSES.get(entry["status"], entry["status"].lower()),
            at=str(entry.get("at", "")),
        )
        for name, entry in latest.items()
    ]


def steps_title(steps: list[StepView]) -> str:
    """The order shows its newest saga: the checkout's, or the cancellation's once asked for."""
    if any(step.name in CANCELLATION_STEPS for step in steps):
        return "Cancellation steps"
    return "Checkout steps"
