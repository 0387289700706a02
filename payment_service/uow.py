"""Payment's unit of work: one transaction over payments, outbox and inbox."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from eventing.inbox import Inbox
from eventing.outbox import Outbox
from payment_service import orm
from payment_service.repository import PaymentRepository
from servicekit.db import UnitOfWork

CONSUMER_NAME = "payment-service"


class PaymentUnitOfWork(UnitOfWork):
    payments: PaymentRepository

    def __init__(self, session_factory: sessionmaker[Session], outbox: Outbox):
        super().__init__(session_factory)
        self.outbox = outbox
        self.inbox = Inbox(orm.inbox, CONSUMER_NAME)

    def _start(self) -> None:
        self.payments = PaymentRepository(self.session)
