"""Building the order service's messages as its tests feed them: a product as inventory
announces it, and a saga's local step applied as the orchestrator applies it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts import inventory
from eventing.envelope import Envelope
from eventing.registry import Event, envelope_for


def product_created(sku: str, **fields: Any) -> inventory.ProductCreated:
    """A new product with one unit in stock, named after its sku (`fields` override)."""
    values: dict[str, Any] = {
        "sku": sku,
        "version": 1,
        "name": f"Product {sku}",
        "description": "",
        "category": "k",
        "price_cents": 100,
        "attributes": {},
        "stock_on_hand": 1,
        "stock_reserved": 0,
        "stock_available": 1,
    }
    return inventory.ProductCreated(**(values | fields))


def run_local_step(
    uow_factory: Callable[[], Any],
    step: Callable[[Any, Event], Event],
    command: Event,
    correlation_id: str = "saga-1",
) -> tuple[Event, Envelope]:
    """Apply a saga's local step as the orchestrator does: in a unit of work handling the
    saga's reply in hand, committed. The step's answer, and the envelope of that reply."""
    in_hand = envelope_for(inventory.StockCommitted(order_id="-"), correlation_id=correlation_id)
    with uow_factory() as uow:
        uow.handling(in_hand)
        answer = step(uow, command)
        uow.commit()
    return answer, in_hand
