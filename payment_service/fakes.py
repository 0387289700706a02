"""Payment's in-memory adapters, for use-case tests that need no server. They hold to the
same contract tests as the PostgreSQL ones (`tests/contract/test_payment_*.py`)."""

from __future__ import annotations

from dataclasses import replace

from payment_service.domain import Payment
from payment_service.repository import PaymentRepository
from payment_service.uow import PaymentUnitOfWork
from servicekit.unit_of_work import InMemoryMessageStore, InMemoryUnitOfWork

CONSUMER = "payment-service"


class InMemoryPaymentRepository(PaymentRepository):
    """Payments by order id. A lock is meaningless in one thread: `lock` is accepted and
    ignored."""

    def __init__(self) -> None:
        self.by_order: dict[str, Payment] = {}

    def for_order(self, order_id: str, *, lock: bool = True) -> Payment | None:
        return self.by_order.get(order_id)

    def by_id(self, payment_id: str) -> Payment | None:
        return next((p for p in self.by_order.values() if p.payment_id == payment_id), None)

    def add(self, payment: Payment) -> bool:
        if payment.order_id in self.by_order:
            return False
        self.by_order[payment.order_id] = payment
        return True

    def save(self, payment: Payment) -> None:
        kept = self.for_order(payment.order_id)
        if kept is not None and kept.payment_id == payment.payment_id:
            self.by_order[payment.order_id] = replace(kept, status=payment.status)


class InMemoryPaymentUnitOfWork(InMemoryUnitOfWork, PaymentUnitOfWork):
    """One fake payment service: enter it once per message or request, as the dispatcher
    and the API do with a unit-of-work factory (`lambda: uow`)."""

    def __init__(self, store: InMemoryMessageStore | None = None):
        super().__init__(store or InMemoryMessageStore(consumer=CONSUMER))
        self.payments: InMemoryPaymentRepository = InMemoryPaymentRepository()

    def _snapshot(self) -> dict[str, Payment]:
        return dict(self.payments.by_order)

    def _restore(self, saved: dict[str, Payment]) -> None:
        self.payments.by_order = dict(saved)
