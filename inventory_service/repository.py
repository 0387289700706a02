"""Where products and reservations are kept: the ports the use cases see, and their
PostgreSQL adapters (the in-memory ones are in `inventory_service.fakes`). Both hold to
`tests/contract/test_inventory_repositories.py`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from inventory_service import orm
from inventory_service.domain import Product, Reservation, ReservationStatus


class ProductRepository(ABC):
    """Products by sku. A deleted product is kept (its sku is never reused), marked deleted."""

    @abstractmethod
    def add(self, product: Product) -> bool:
        """Keep a new product; False (and nothing kept) when the sku exists, deleted or not."""

    @abstractmethod
    def get(self, sku: str, *, lock: bool = False) -> Product | None:
        """The product, deleted or not. `lock` holds it until the unit of work ends."""

    @abstractmethod
    def lock_many(self, skus: list[str]) -> dict[str, Product | None]:
        """Each sku's product (None: unknown), all held until the unit of work ends."""

    @abstractmethod
    def save(self, product: Product) -> None:
        """Record a kept product's new state. Once deleted, it stays deleted."""

    @abstractmethod
    def page(self, *, category: str | None, page: int, page_size: int) -> tuple[list[Product], int]:
        """One page (from 1) of the live products, by sku, optionally of one category, and
        how many there are in all."""


class ReservationRepository(ABC):
    """At most one reservation per order."""

    @abstractmethod
    def get(self, order_id: str, *, lock: bool = True) -> Reservation | None:
        """The order's reservation; `lock` holds it until the unit of work ends."""

    @abstractmethod
    def add(self, reservation: Reservation) -> None:
        """Keep the reservation of an order that has none."""

    @abstractmethod
    def save(self, reservation: Reservation) -> None:
        """Record a kept reservation's new state."""


def _product(row: Any) -> Product:
    return Product(
        sku=row.sku,
        name=row.name,
        description=row.description,
        category=row.category,
        price_cents=row.price_cents,
        attributes=dict(row.attributes),
        on_hand=row.stock_on_hand,
        reserved=row.stock_reserved,
        version=row.version,
        deleted=row.deleted_at is not None,
    )


def _columns(product: Product) -> dict[str, Any]:
    return {
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "price_cents": product.price_cents,
        "attributes": product.attributes,
        "stock_on_hand": product.on_hand,
        "stock_reserved": product.reserved,
        "version": product.version,
    }


class SqlProductRepository(ProductRepository):
    def __init__(self, session: Session):
        self.session = session

    def add(self, product: Product) -> bool:
        """Insert; False when the sku exists (deleted or not)."""
        result = self.session.execute(
            pg_insert(orm.products)
            .values(sku=product.sku, **_columns(product))
            .on_conflict_do_nothing(index_elements=["sku"])
            .returning(orm.products.c.sku)
        )
        return result.first() is not None

    def get(self, sku: str, *, lock: bool = False) -> Product | None:
        query = select(orm.products).where(orm.products.c.sku == sku)
        row = self.session.execute(query.with_for_update() if lock else query).first()
        return None if row is None else _product(row)

    def lock_many(self, skus: list[str]) -> dict[str, Product | None]:
        """Row locks in sku order, so concurrent reservations never deadlock."""
        rows = self.session.execute(
            select(orm.products)
            .where(orm.products.c.sku.in_(skus))
            .order_by(orm.products.c.sku)
            .with_for_update()
        ).all()
        found = {row.sku: _product(row) for row in rows}
        return {sku: found.get(sku) for sku in skus}

    def save(self, product: Product) -> None:
        values = _columns(product) | {"updated_at": func.now()}
        if product.deleted:
            values["deleted_at"] = func.coalesce(orm.products.c.deleted_at, func.now())
        self.session.execute(
            update(orm.products).where(orm.products.c.sku == product.sku).values(**values)
        )

    def page(self, *, category: str | None, page: int, page_size: int) -> tuple[list[Product], int]:
        live = orm.products.c.deleted_at.is_(None)
        condition = live if category is None else live & (orm.products.c.category == category)
        total = self.session.execute(
            select(func.count()).select_from(orm.products).where(condition)
        ).scalar_one()
        rows = self.session.execute(
            select(orm.products)
            .where(condition)
            .order_by(orm.products.c.sku)
            .offset((page - 1) * page_size)
            .limit(page_size)
        ).all()
        return [_product(row) for row in rows], total


class SqlReservationRepository(ReservationRepository):
    def __init__(self, session: Session):
        self.session = session

    def get(self, order_id: str, *, lock: bool = True) -> Reservation | None:
        query = select(orm.reservations).where(orm.reservations.c.order_id == order_id)
        row = self.session.execute(query.with_for_update() if lock else query).first()
        if row is None:
            return None
        return Reservation(
            order_id=row.order_id,
            status=ReservationStatus(row.status),
            items=tuple((sku, quantity) for sku, quantity in row.items),
            failure_reason=row.failure_reason,
            failed_skus=tuple(row.failed_skus),
        )

    def add(self, reservation: Reservation) -> None:
        self.session.execute(insert(orm.reservations).values(**_reservation(reservation)))

    def save(self, reservation: Reservation) -> None:
        self.session.execute(
            update(orm.reservations)
            .where(orm.reservations.c.order_id == reservation.order_id)
            .values(**_reservation(reservation), updated_at=func.now())
        )


def _reservation(reservation: Reservation) -> dict[str, Any]:
    return {
        "order_id": reservation.order_id,
        "status": reservation.status.value,
        "items": [list(item) for item in reservation.items],
        "failure_reason": reservation.failure_reason,
        "failed_skus": list(reservation.failed_skus),
    }
