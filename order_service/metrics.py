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


_PENDING = "checkout.approvals_pending"
"""The session's `info` key for the creation times of the orders its transaction approves."""


def order_changed(session: Session, before: Order, after: Order) -> None:
    """When `after` approves a pending order, record its time to approved once `session`'s
    transaction commits; nothing if it rolls back (a retried message records on the attempt
    that commits)."""
    if before.status is OrderStatus.APPROVED or after.status is not OrderStatus.APPROVED:
        return
    if before.created_at is None:
        return
    if _PENDING not in session.info:
        session.info[_PENDING] = []
        event.listen(session, "after_commit", _record_approvals)
        event.listen(session, "after_rollback", _forget_approvals)
    session.info[_PENDING].append(before.created_at)


def _record_approvals(session: Session) -> None:
    now = utc_now()
    for created_at in session.info[_PENDING]:
        _time_to_approved.record(max((now - created_at).total_seconds(), 0.0))
    session.info[_PENDING].clear()


def _forget_approvals(session: Session) -> None:
    session.info[_PENDING].clear()
