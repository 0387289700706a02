"""Checkout's time to approved: from the order's creation (`POST /orders`) to its approval by
the checkout saga, recorded when the approval commits in the order service."""

from __future__ import annotations

from opentelemetry import metrics
from sqlalchemy import event
from sqlalchemy.orm import Session

from eventing.envelope import utc_now
from order_service.domain import Order, OrderStatus

_time_to_approved = metrics.get_meter("order_service").create_histogram(
    "checkout.time_to_approved",
    unit="s",
    description="time from an order's creation to its approval (the checkout saga's verdict)",
)


def order_changed(session: Session, before: Order, after: Order) -> None:
    """When `after` approves a pending order, record its time to approved once `session`
    commits (a transaction rolled back and retried records it once, on its commit)."""
    if before.status is OrderStatus.APPROVED or after.status is not OrderStatus.APPROVED:
        return
    created_at = before.created_at
    if created_at is None:
        return

    def record(_session: Session) -> None:
        _time_to_approved.record(max((utc_now() - created_at).total_seconds(), 0.0))

    event.listen(session, "after_commit", record, once=True)
