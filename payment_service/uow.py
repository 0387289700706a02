"""Payment's unit of work: one transaction over payments, the outbox and the inbox.

`PaymentUnitOfWork` is what the use cases and the API type against; `SqlPaymentUnitOfWork`
is its PostgreSQL adapter, `payment_service.fakes.InMemoryPaymentUnitOfWork` its fake.
"""

from __future__ import annotations

from payment_service.repository import PaymentRepository, SqlPaymentRepository
from servicekit.unit_of_work import SqlUnitOfWork, UnitOfWork


class PaymentUnitOfWork(UnitOfWork):
    payments: PaymentRepository


class SqlPaymentUnitOfWork(SqlUnitOfWork, PaymentUnitOfWork):
    def _start(self) -> None:
        self.payments = SqlPaymentRepository(self.session)
