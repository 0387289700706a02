"""The PostgreSQL adapters of the order service's repositories (`order_service.ports`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from eventing.sql import insert_or_skip, upsert_if_newer
from order_service import orm
from order_service.domain import CatalogueEntry, LineItem, Order, OrderStatus
from order_service.ports import (
    Catalogue,
    IdempotencyKeys,
    OrderRepository,
    RateLimits,
)


class SqlOrderRepository(OrderRepository):
    def __init__(self, session: Session):
        self.session = session

    def add(self, order: Order) -> None:
        self.session.execute(
            insert(orm.orders).values(
                order_id=order.order_id,
                customer_id=order.customer_id,
                payment_method=order.payment_method,
                status=order.status.value,
                total_cents=order.total_cents,
            )
        )
        self.session.execute(
            insert(orm.order_items),
            [
                {
                    "order_id": order.order_id,
                    "position": position,
                    "sku": item.sku,
                    "quantity": item.quantity,
                    "unit_price_cents": item.unit_price_cents,
                }
                for position, item in enumerate(order.items)
            ],
        )

    def get(self, order_id: str, *, lock: bool = False) -> Order | None:
        query = select(orm.orders).where(orm.orders.c.order_id == order_id)
        row = self.session.execute(query.with_for_update() if lock else query).first()
        if row is None:
            return None
        return self._orders([row])[0]

    def save(self, order: Order) -> None:
        self.session.execute(
            update(orm.orders)
            .where(orm.orders.c.order_id == order.order_id)
            .values(
                status=order.status.value,
                rejection_reason=order.rejection_reason,
                cancellation_requested=order.cancellation_requested,
                updated_at=func.now(),
            )
        )

    def for_customer(self, customer_id: str, page: int, page_size: int) -> tuple[list[Order], int]:
        mine = orm.orders.c.customer_id == customer_id
        total = self.session.execute(
            select(func.count()).select_from(orm.orders).where(mine)
        ).scalar_one()
        rows = self.session.execute(
            select(orm.orders)
            .where(mine)
            .order_by(orm.orders.c.created_at.desc(), orm.orders.c.order_id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        ).all()
        return self._orders(rows), total

    def _orders(self, rows) -> list[Order]:
        ids = [row.order_id for row in rows]
        items: dict[str, list[LineItem]] = {order_id: [] for order_id in ids}
        for item in self.session.execute(
            select(orm.order_items)
            .where(orm.order_items.c.order_id.in_(ids))
            .order_by(orm.order_items.c.order_id, orm.order_items.c.position)
        ):
            items[item.order_id].append(LineItem(item.sku, item.quantity, item.unit_price_cents))
        return [
            Order(
                order_id=row.order_id,
                customer_id=row.customer_id,
                payment_method=row.payment_method,
                items=tuple(items[row.order_id]),
                status=OrderStatus(row.status),
                rejection_reason=row.rejection_reason,
                cancellation_requested=row.cancellation_requested,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            for row in rows
        ]


class SqlIdempotencyKeys(IdempotencyKeys):
    _CLAIM = insert_or_skip(
        orm.idempotency_keys, ("key", "fingerprint", "order_id"), conflict="(key)", returning="key"
    )

    def __init__(self, session: Session):
        self.session = session

    def claim(self, key: str, fingerprint: str, order_id: str) -> tuple[str, str] | None:
        """Record the key for a new order. If the key was used before (also by a concurrent
        request: PostgreSQL makes this insert wait for that one's transaction), return that
        use's (fingerprint, order_id) instead."""
        inserted = self.session.execute(
            self._CLAIM, {"key": key, "fingerprint": fingerprint, "order_id": order_id}
        ).first()
        if inserted is not None:
            return None
        row = self.session.execute(
            select(orm.idempotency_keys).where(orm.idempotency_keys.c.key == key)
        ).one()
        return row.fingerprint, row.order_id


class SqlRateLimits(RateLimits):
    """The counters in PostgreSQL, so that every gunicorn worker of every API process counts
    the same requests. One statement takes a request's place
    atomically: the row is created, counted up within its window, or restarted in a new
    window (the database's clock decides, so processes need not agree on the time)."""

    _TAKE = text(
        """
        WITH now AS (
            SELECT to_timestamp(
                floor(extract(epoch FROM clock_timestamp()) / :window_s) * :window_s
            ) AS window_start
        )
        INSERT INTO order_rate_limits AS counter (customer_id, window_start, orders)
        SELECT :customer_id, now.window_start, 1 FROM now
        ON CONFLICT (customer_id) DO UPDATE SET
            orders = CASE WHEN counter.window_start = EXCLUDED.window_start
                          THEN counter.orders + 1 ELSE 1 END,
            window_start = EXCLUDED.window_start
        RETURNING orders,
            extract(epoch FROM window_start + make_interval(secs => :window_s)
                               - clock_timestamp()) AS seconds_left
        """
    )

    def __init__(self, session: Session):
        self.session = session

    def take(self, customer_id: str, limit: int, window_s: int) -> float | None:
        row = self.session.execute(
            self._TAKE, {"customer_id": customer_id, "window_s": window_s}
        ).one()
        return None if row.orders <= limit else max(float(row.seconds_left), 0.0)


class SqlCatalogue(Catalogue):
    # Every product event runs it.
    _APPLY = upsert_if_newer(
        orm.catalogue,
        ("sku", "version", "name", "price_cents", "deleted"),
        key="sku",
        returning="sku",
    )

    def __init__(self, session: Session):
        self.session = session

    def entries(self, skus: list[str]) -> dict[str, CatalogueEntry]:
        rows = self.session.execute(select(orm.catalogue).where(orm.catalogue.c.sku.in_(skus)))
        return {
            row.sku: CatalogueEntry(row.sku, row.name, row.price_cents, row.version, row.deleted)
            for row in rows
        }

    def apply(self, sku: str, version: int, values: dict[str, Any]) -> bool:
        """Upsert when `version` is newer than the stored one; False when it was not.
        `values` are the entry's name, price_cents and deleted."""
        row = {"sku": sku, "version": version, **values}
        return self.session.execute(self._APPLY, row).first() is not None
