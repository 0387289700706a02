"""Inventory's events (products, stock, reservations) and the commands it accepts.

Product events carry the product's full state and its version (one more on every change), so
the compacted `inventory.products` topic alone can rebuild any projection, and a projection
can ignore an event whose version is not newer than what it holds.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeAlias

from pydantic import Field

from contracts.common import Cents, LineItem, Message, Sku
from eventing import topics
from eventing.registry import registry


class _ProductEvent(Message):
    topic: ClassVar[str] = topics.PRODUCTS
    aggregate_type: ClassVar[str] = "Product"
    aggregate_key: ClassVar[str] = "sku"

    sku: Sku
    version: int = Field(ge=1)


class _ProductState(_ProductEvent):
    name: str
    description: str
    category: str
    price_cents: Cents
    attributes: dict[str, Any]
    stock_on_hand: int = Field(ge=0)
    stock_reserved: int = Field(ge=0)
    stock_available: int = Field(ge=0)


@registry.register
class ProductCreated(_ProductState):
    event_type: ClassVar[str] = "ProductCreated"


@registry.register
class ProductUpdated(_ProductState):
    event_type: ClassVar[str] = "ProductUpdated"


StockChangeReason = Literal["RESTOCKED", "RESERVED", "RELEASED", "COMMITTED", "RETURNED"]


@registry.register
class StockChanged(_ProductState):
    event_type: ClassVar[str] = "StockChanged"

    reason: StockChangeReason
    order_id: str | None = None


@registry.register
class ProductDeleted(_ProductEvent):
    event_type: ClassVar[str] = "ProductDeleted"


ProductEvent: TypeAlias = ProductCreated | ProductUpdated | StockChanged | ProductDeleted
"""Every event of the products topic; each carries the product's `sku` and `version`."""


class _ReservationMessage(Message):
    aggregate_type: ClassVar[str] = "Reservation"
    aggregate_key: ClassVar[str] = "order_id"

    order_id: str


class _ReservationEvent(_ReservationMessage):
    topic: ClassVar[str] = topics.RESERVATIONS


@registry.register
class StockReserved(_ReservationEvent):
    event_type: ClassVar[str] = "StockReserved"

    items: list[LineItem]


ReservationFailure = Literal["OUT_OF_STOCK", "PRODUCT_UNAVAILABLE"]


@registry.register
class StockReservationFailed(_ReservationEvent):
    event_type: ClassVar[str] = "StockReservationFailed"

    reason: ReservationFailure
    skus: list[Sku]


@registry.register
class StockReleased(_ReservationEvent):
    event_type: ClassVar[str] = "StockReleased"


@registry.register
class StockCommitted(_ReservationEvent):
    event_type: ClassVar[str] = "StockCommitted"


@registry.register
class StockReturned(_ReservationEvent):
    """A committed reservation's stock put back on hand (an approved order was cancelled)."""

    event_type: ClassVar[str] = "StockReturned"


class _InventoryCommand(_ReservationMessage):
    topic: ClassVar[str] = topics.INVENTORY_COMMANDS


@registry.register
class ReserveStock(_InventoryCommand):
    """Reserve every item or none. Replies: StockReserved or StockReservationFailed."""

    event_type: ClassVar[str] = "ReserveStock"

    items: list[LineItem] = Field(min_length=1)


@registry.register
class ReleaseStock(_InventoryCommand):
    """Undo a reservation (compensation). Reply: StockReleased, also when nothing was held."""

    event_type: ClassVar[str] = "ReleaseStock"


@registry.register
class CommitStock(_InventoryCommand):
    """Take the reserved stock for good (order approved). Reply: StockCommitted."""

    event_type: ClassVar[str] = "CommitStock"


@registry.register
class ReturnStock(_InventoryCommand):
    """Put a committed reservation's stock back on hand (order cancelled). Reply: StockReturned."""

    event_type: ClassVar[str] = "ReturnStock"
