"""Where products and reservations are kept: the ports the use cases see, and their
PostgreSQL adapters (the in-memory ones are in `inventory_service.fakes`). Both hold to
`tests/contract/test_inventory_repositories.py`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from eventing.sql import update_by_key
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


_PRODUCT_COLUMNS = (
    "name",
    "description",
    "category",
    "price_cents",
    "attributes",
    "stock_on_hand",
    "stock_reserved",
    "version",
)
"""The columns `_columns` fills: what a save writes."""
_RESERVATION_COLUMNS = ("status", "items", "failure_reason", "failed_skus")
"""What a reservation's save writes (its order id is its key)."""


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


_products, _reservations = orm.products, orm.reservations
# What every reservation, commit and release runs, built once: executed with each call's
# values, SQLAlchemy reuses their compiled form instead of building statement and cache key.
_LOCK_MANY = (
    select(_products)
    .where(_products.c.sku.in_(bindparam("skus", expanding=True)))
    .order_by(_products.c.sku)
    .with_for_update()
)
_SAVE_PRODUCT = update_by_key(_products, _PRODUCT_COLUMNS, key=("sku",))
_GET_RESERVATION = select(_reservations).where(_reservations.c.order_id == bindparam("order_id"))
_GET_RESERVATION_LOCKED = _GET_RESERVATION.with_for_update()
_ADD_RESERVATION = insert(_reservations)
_SAVE_RESERVATION = update_by_key(_reservations, _RESERVATION_COLUMNS, key=("order_id",))


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
        rows = self.session.execute(_LOCK_MANY, {"skus": skus}).all()
        found = {row.sku: _product(row) for row in rows}
        return {sku: found.get(sku) for sku in skus}

    def save(self, product: Product) -> None:
        if product.deleted:
            values = _columns(product) | {
                "updated_at": func.now(),
                "deleted_at": func.coalesce(orm.products.c.deleted_at, func.now()),
            }
            self.session.execute(
                update(orm.products).where(orm.products.c.sku == product.sku).values(**values)
            )
            return
        self.session.execute(
            _SAVE_PRODUCT.statement, _SAVE_PRODUCT.parameters(_columns(product), sku=product.sku)
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
        query = _GET_RESERVATION_LOCKED if lock else _GET_RESERVATION
        row = self.session.execute(query, {"order_id": order_id}).first()
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
        self.session.execute(_ADD_RESERVATION, _reservation(reservation))

    def save(self, reservation: Reservation) -> None:
        self.session.execute(
            _SAVE_RESERVATION.statement,
            _SAVE_RESERVATION.parameters(_reservation(reservation), order_id=reservation.order_id),
        )


def _reservation(reservation: Reservation) -> dict[str, Any]:
    return {
        "order_id": reservation.order_id,
        "status": reservation.status.value,
        "items": [list(item) for item in reservation.items],
        "failure_reason": reservation.failure_reason,
        "failed_skus": list(reservation.failed_skus),
    }
