"""A stock reservation as an operator reads it, where the inventory API offers nothing: from
the inventory database, through the service's own table definitions and settings, on a
read-only connection. The console shows it through this module, as it does every operation it
shares with `shopctl`, and imports no service of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import Engine, create_engine, select

from inventory_service import orm as inventory_orm
from inventory_service.config import load_settings as inventory_settings


@dataclass(frozen=True)
class Reservation:
    order_id: str
    status: str
    items: list[tuple[str, int]]
    """(sku, quantity) pairs, as the inventory service stores them."""
    failure_reason: str | None
    failed_skus: list[str]
    created_at: datetime
    updated_at: datetime


@cache
def _inventory() -> Engine:
    return create_engine(
        inventory_settings().database_url,
        pool_size=2,
        max_overflow=2,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5, "options": "-c default_transaction_read_only=on"},
    )


def reservation_of(order_id: str) -> Reservation | None:
    table = inventory_orm.reservations
    with _inventory().connect() as connection:
        row = connection.execute(select(table).where(table.c.order_id == order_id)).first()
    if row is None:
        return None
    return Reservation(
        row.order_id,
        row.status,
        [(sku, quantity) for sku, quantity in row.items],
        row.failure_reason,
        list(row.failed_skus),
        row.created_at,
        row.updated_at,
    )
