"""The order service's unit of work: the port its use cases type against, and its PostgreSQL
adapter. The in-memory adapter is `order_service.fakes.InMemoryOrderUnitOfWork`; both hold to
`tests/contract/test_order_unit_of_work.py`."""

from __future__ import annotations

from order_service import orm
from order_service.ports import (
    Catalogue,
    IdempotencyKeys,
    OrderRepository,
    RateLimits,
)
from order_service.repository import (
    SqlCatalogue,
    SqlIdempotencyKeys,
    SqlOrderRepository,
    SqlRateLimits,
)
from sagas.framework.ports import SagaUnitOfWork
from sagas.framework.store import SqlSagaStore
from servicekit.unit_of_work import SqlUnitOfWork


class OrderUnitOfWork(SagaUnitOfWork):
    """One transaction over the orders, the idempotency keys, the catalogue, the rate limits
    and the orders' sagas, with the outbox and inbox of `servicekit.unit_of_work.UnitOfWork`:
    the orchestrator approves an order in the transaction that applies the saga's last reply."""

    orders: OrderRepository
    idempotency_keys: IdempotencyKeys
    catalogue: Catalogue
    rate_limits: RateLimits


class SqlOrderUnitOfWork(SqlUnitOfWork, OrderUnitOfWork):
    """The order service's database: its repositories on the unit of work's session."""

    def _start(self) -> None:
        self.orders = SqlOrderRepository(self.session)
        self.idempotency_keys = SqlIdempotencyKeys(self.session)
        self.catalogue = SqlCatalogue(self.session)
        self.rate_limits = SqlRateLimits(self.session)
        self.sagas = SqlSagaStore(self.session, orm.sagas, outbox=self.outbox.table)
