"""The order service's unit of work."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from eventing.inbox import Inbox
from eventing.outbox import Outbox
from order_service import orm
from order_service.repository import (
    Catalogue,
    IdempotencyKeys,
    OrderRepository,
    RateLimits,
    SagaViews,
)
from servicekit.db import UnitOfWork

CONSUMER_NAME = "order-service"


class OrderUnitOfWork(UnitOfWork):
    orders: OrderRepository
    idempotency_keys: IdempotencyKeys
    catalogue: Catalogue
    saga_views: SagaViews
    rate_limits: RateLimits

    def __init__(self, session_factory: sessionmaker[Session], outbox: Outbox):
        super().__init__(session_factory)
        self.outbox = outbox
        self.inbox = Inbox(orm.inbox, CONSUMER_NAME)

    def _start(self) -> None:
        self.orders = OrderRepository(self.session)
        self.idempotency_keys = IdempotencyKeys(self.session)
        self.catalogue = Catalogue(self.session)
        self.saga_views = SagaViews(self.session)
        self.rate_limits = RateLimits(self.session)
