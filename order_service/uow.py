"""The order service's unit of work: the port its use cases type against, and its PostgreSQL
adapter. The in-memory adapter is `order_service.fakes.InMemoryOrderUnitOfWork`; both hold to
`tests/contract/test_order_unit_of_work.py`."""

from __future__ import annotations

from order_service.ports import (
    Catalogue,
    IdempotencyKeys,
    OrderRepository,
    RateLimits,
    SagaViews,
)
from order_service.repository import (
    SqlCatalogue,
    SqlIdempotencyKeys,
    SqlOrderRepository,
    SqlRateLimits,
    SqlSagaViews,
)
from servicekit.unit_of_work import SqlUnitOfWork, UnitOfWork


class OrderUnitOfWork(UnitOfWork):
    """One transaction over the orders, the idempotency keys, the read models and the rate
    limits, with the outbox and inbox of `servicekit.unit_of_work.UnitOfWork`."""

    orders: OrderRepository
    idempotency_keys: IdempotencyKeys
    catalogue: Catalogue
    saga_views: SagaViews
    rate_limits: RateLimits


class SqlOrderUnitOfWork(SqlUnitOfWork, OrderUnitOfWork):
    """The order service's database: its repositories on the unit of work's session."""

    def _start(self) -> None:
        self.orders = SqlOrderRepository(self.session)
        self.idempotency_keys = SqlIdempotencyKeys(self.session)
        self.catalogue = SqlCatalogue(self.session)
        self.saga_views = SqlSagaViews(self.session)
        self.rate_limits = SqlRateLimits(self.session)
