"""What the inventory tests share: making products, sending commands, reading the outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from contracts import inventory as messages
from eventing.envelope import Envelope
from eventing.registry import Decoded, envelope_for
from inventory_service import orm

ADMIN = {"Authorization": "Bearer test-admin"}
MIGRATIONS = Path(__file__).parents[3] / "inventory_service" / "migrations"


def new_product(client, sku: str = "MUG-1", stock: int = 10, **overrides: Any):
    body = {
        "sku": sku,
        "name": "Blue mug",
        "description": "A mug",
        "category": "kitchen",
        "price_cents": 1200,
        "stock": stock,
        "attributes": {"colour": "blue"},
    } | overrides
    return client.post("/products", json=body, headers=ADMIN)


def outbox_events(app, aggregate_type: str | None = None) -> list[Envelope]:
    """Every event inventory wrote to its outbox, oldest first."""
    with app.engine.connect() as connection:
        rows = connection.execute(select(orm.outbox.c.envelope).order_by(orm.outbox.c.id))
        events = [Envelope.model_validate_json(row.envelope) for row in rows]
    return [e for e in events if aggregate_type in (None, e.aggregate_type)]


def outbox_destinations(app) -> list[tuple[str, str]]:
    """(topic, key) of every message in the outbox, oldest first."""
    with app.engine.connect() as connection:
        rows = connection.execute(
            select(orm.outbox.c.topic, orm.outbox.c.message_key).order_by(orm.outbox.c.id)
        )
        return [(row.topic, row.message_key) for row in rows]


def replies(app, order_id: str | None = None) -> list[Envelope]:
    """The replies to the sagas (on inventory.reservations), optionally of one order."""
    return [e for e in outbox_events(app, "Reservation") if order_id in (None, e.aggregate_id)]


def command(event: messages.Message) -> Decoded:
    """A command as the consumer hands it over: a new envelope, so a new event id."""
    return Decoded(envelope_for(event, correlation_id="saga-1"), event)


def reserve(order_id: str, *items: tuple[str, int]) -> Decoded:
    return command(
        messages.ReserveStock(
            order_id=order_id, items=[{"sku": sku, "quantity": quantity} for sku, quantity in items]
        )
    )


def release(order_id: str) -> Decoded:
    return command(messages.ReleaseStock(order_id=order_id))


def commit(order_id: str) -> Decoded:
    return command(messages.CommitStock(order_id=order_id))


def return_stock(order_id: str) -> Decoded:
    return command(messages.ReturnStock(order_id=order_id))


def stock(client, sku: str = "MUG-1") -> tuple[int, int]:
    """(on hand, reserved)."""
    product = client.get(f"/products/{sku}").json
    return product["stock_on_hand"], product["stock_reserved"]
