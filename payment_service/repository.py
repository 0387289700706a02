"""Where payments are kept: the port the use cases see, and its PostgreSQL adapter (the
in-memory one is in `payment_service.fakes`). Both hold to `tests/contract/
test_payment_repository.py`."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from eventing.sql import insert_or_skip
from payment_service import orm
from payment_service.domain import Payment, PaymentStatus


class PaymentRepository(ABC):
    """At most one payment per order."""

    @abstractmethod
    def for_order(self, order_id: str, *, lock: bool = True) -> Payment | None:
        """The order's payment. `lock` holds it until the unit of work ends, so that two
        commands for one order are applied one after the other."""

    @abstractmethod
    def by_id(self, payment_id: str) -> Payment | None:
        """The payment with this id (a UUID's text)."""

    @abstractmethod
    def add(self, payment: Payment) -> bool:
        """Keep a new payment; False (and nothing kept) when its order already has one."""

    @abstractmethod
    def save(self, payment: Payment) -> None:
        """Record a kept payment's new status (the only thing about a payment that changes)."""


def _payment(row: Any) -> Payment:
    return Payment(
        payment_id=str(row.payment_id),
        order_id=row.order_id,
        customer_id=row.customer_id,
        amount_cents=row.amount_cents,
        status=PaymentStatus(row.status),
        decline_reason=row.decline_reason,
    )


_ADD = insert_or_skip(
    orm.payments,
    ("payment_id", "order_id", "customer_id", "amount_cents", "status", "decline_reason"),
    conflict="(order_id)",
    returning="order_id",
)


class SqlPaymentRepository(PaymentRepository):
    def __init__(self, session: Session):
        self.session = session

    def for_order(self, order_id: str, *, lock: bool = True) -> Payment | None:
        query = select(orm.payments).where(orm.payments.c.order_id == order_id)
        row = self.session.execute(query.with_for_update() if lock else query).first()
        return None if row is None else _payment(row)

    def by_id(self, payment_id: str) -> Payment | None:
        row = self.session.execute(
            select(orm.payments).where(orm.payments.c.payment_id == uuid.UUID(payment_id))
        ).first()
        return None if row is None else _payment(row)

    def add(self, payment: Payment) -> bool:
        """Insert; a concurrent command that inserted first wins."""
        result = self.session.execute(
            _ADD,
            {
                "payment_id": uuid.UUID(payment.payment_id),
                "order_id": payment.order_id,
                "customer_id": payment.customer_id,
                "amount_cents": payment.amount_cents,
                "status": payment.status.value,
                "decline_reason": payment.decline_reason,
            },
        )
        return result.first() is not None

    def save(self, payment: Payment) -> None:
        self.session.execute(
            update(orm.payments)
            .where(orm.payments.c.payment_id == uuid.UUID(payment.payment_id))
            .values(status=payment.status.value, updated_at=func.now())
        )
