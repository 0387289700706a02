"""Inventory's unit of work: one transaction over products, reservations, the outbox and the
inbox.

`InventoryUnitOfWork` is what the use cases and the API type against; `SqlInventoryUnitOfWork`
is its PostgreSQL adapter, `inventory_service.fakes.InMemoryInventoryUnitOfWork` its fake.
"""

from __future__ import annotations

from inventory_service.repository import (
    ProductRepository,
    ReservationRepository,
    SqlProductRepository,
    SqlReservationRepository,
)
from servicekit.unit_of_work import SqlUnitOfWork, UnitOfWork


class InventoryUnitOfWork(UnitOfWork):
    products: ProductRepository
    reservations: ReservationRepository


class SqlInventoryUnitOfWork(SqlUnitOfWork, InventoryUnitOfWork):
    def _start(self) -> None:
        self.products = SqlProductRepository(self.session)
        self.reservations = SqlReservationRepository(self.session)
