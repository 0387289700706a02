"""Inventory's in-memory adapters, for use-case tests that need no server. They hold to the
same contract tests as the PostgreSQL ones (`tests/contract/test_inventory_*.py`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

from inventory_service.domain import Product, Reservation
from inventory_service.repository import ProductRepository, ReservationRepository
from inventory_service.uow import InventoryUnitOfWork
from servicekit.unit_of_work import InMemoryMessageStore, InMemoryUnitOfWork

CONSUMER = "inventory-service"


def _detached(product: Product) -> Product:
    """A copy sharing no mutable attributes with the one kept (as a row read afresh)."""
    return replace(product, attributes=copy.deepcopy(product.attributes))


class InMemoryProductRepository(ProductRepository):
    """Products by sku. A lock is meaningless in one thread: `lock` is accepted and ignored."""

    def __init__(self) -> None:
        self.by_sku: dict[str, Product] = {}

    def add(self, product: Product) -> bool:
        if product.sku in self.by_sku:
            return False
        self.by_sku[product.sku] = _detached(product)
        return True

    def get(self, sku: str, *, lock: bool = False) -> Product | None:
        product = self.by_sku.get(sku)
        return None if product is None else _detached(product)

    def lock_many(self, skus: list[str]) -> dict[str, Product | None]:
        return {sku: self.get(sku) for sku in skus}

    def save(self, product: Product) -> None:
        kept = self.by_sku.get(product.sku)
        if kept is not None:
            self.by_sku[product.sku] = replace(
                _detached(product), deleted=kept.deleted or product.deleted
            )

    def page(self, *, category: str | None, page: int, page_size: int) -> tuple[list[Product], int]:
        live = [
            product
            for _, product in sorted(self.by_sku.items())
            if not product.deleted and category in (None, product.category)
        ]
        start = (page - 1) * page_size
        return [_detached(product) for product in live[start : start + page_size]], len(live)


class InMemoryReservationRepository(ReservationRepository):
    def __init__(self) -> None:
        self.by_order: dict[str, Reservation] = {}

    def get(self, order_id: str, *, lock: bool = True) -> Reservation | None:
        return self.by_order.get(order_id)

    def add(self, reservation: Reservation) -> None:
        if reservation.order_id in self.by_order:
            raise ValueError(f"order {reservation.order_id} already has a reservation")
        self.by_order[reservation.order_id] = reservation

    def save(self, reservation: Reservation) -> None:
        if reservation.order_id in self.by_order:
            self.by_order[reservation.order_id] = reservation


@dataclass(frozen=True)
class _Saved:
    products: dict[str, Product] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)


class InMemoryInventoryUnitOfWork(InMemoryUnitOfWork, InventoryUnitOfWork):
    """One fake inventory service: enter it once per message or request, as the dispatcher
    and the API do with a unit-of-work factory (`lambda: uow`)."""

    def __init__(self, store: InMemoryMessageStore | None = None):
        super().__init__(store or InMemoryMessageStore(consumer=CONSUMER))
        self.products: InMemoryProductRepository = InMemoryProductRepository()
        self.reservations: InMemoryReservationRepository = InMemoryReservationRepository()

    def _snapshot(self) -> _Saved:
        # Products and reservations are frozen, and a kept product's attributes are never
        # handed out (see `_detached`): copying the mappings copies the state.
        return _Saved(dict(self.products.by_sku), dict(self.reservations.by_order))

    def _restore(self, saved: _Saved) -> None:
        self.products.by_sku = dict(saved.products)
        self.reservations.by_order = dict(saved.reservations)
