"""Checkout's time to approved: from the order's creation (`POST /orders`) to its approval by
the checkout saga, recorded when the approval commits (the saga's local step, so by the
`checkout-saga` process)."""

from __future__ import annotations

from datetime import datetime

from opentelemetry import metrics

from eventing.envelope import utc_now
from order_service.domain import Order, OrderStatus
from servicekit.unit_of_work import UnitOfWork

_time_to_approved = metrics.get_meter("order_service").create_histogram(
    "checkout.time_to_approved",
    unit="s",
    description="time from an order's creation to its approval (the checkout saga's verdict)",
)


def order_changed(uow: UnitOfWork, before: Order, after: Order) -> None:
    """When `after` approves a pending order, record its time to approved once `uow`
    commits; nothing if it does not (a retried message records on the attempt that
    commits)."""
    if before.status is OrderStatus.APPROVED or after.status is not OrderStatus.APPROVED:
        return
    created_at = before.created_at
    if created_at is None:
        return
    uow.after_commit(lambda: _record_approval(created_at))


def _record_approval(created_at: datetime) -> None:
    _time_to_approved.record(max((utc_now() - created_at).total_seconds(), 0.0))
