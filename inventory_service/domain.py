"""Products, stock and reservations: the rules, with no I/O.

Stock is `on_hand` units, of which `reserved` are held for orders; `available` is the rest.
A reservation belongs to one order and holds all of its items or none. Every change to a
product increments its version, which travels with its events.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

MAX_UNITS = 2_147_483_647
"""The most units of one product, and the highest price in cents (PostgreSQL's `integer`)."""


class InventoryError(Exception):
    """Base of the domain's refusals."""


class ProductNotFound(InventoryError):
    pass


class ProductExists(InventoryError):
    pass


class InsufficientStock(InventoryError):
    pass


class StockLimitExceeded(InventoryError):
    """More units than a product can count (stock is a 32-bit integer where it is stored)."""


class ReservationStateError(InventoryError):
    """A command that makes no sense in the reservation's state (a saga protocol error)."""


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    description: str
    category: str
    price_cents: int
    attributes: dict[str, Any] = field(default_factory=dict)
    on_hand: int = 0
    reserved: int = 0
    version: int = 1
    deleted: bool = False

    def __post_init__(self) -> None:
        if self.price_cents < 0 or self.on_hand < 0 or self.reserved < 0:
            raise ValueError("price and stock are never negative")
        if self.reserved > self.on_hand:
            raise ValueError("cannot reserve more than is on hand")

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def _next(self, **changes: Any) -> Product:
        return replace(self, version=self.version + 1, **changes)

    def updated(self, changes: dict[str, Any]) -> Product:
        allowed = {"name", "description", "category", "price_cents", "attributes"}
        if not changes or set(changes) - allowed:
            raise ValueError(f"a product update changes some of {sorted(allowed)}")
        return self._next(**changes)

    def restocked(self, quantity: int) -> Product:
        if quantity < 1:
            raise ValueError("restock at least one unit")
        if self.on_hand + quantity > MAX_UNITS:
            raise StockLimitExceeded(f"{self.sku}: at most {MAX_UNITS} units on hand")
        return self._next(on_hand=self.on_hand + quantity)

    def reserved_for(self, quantity: int) -> Product:
        if quantity > self.available:
            raise InsufficientStock(f"{self.sku}: {quantity} wanted, {self.available} available")
        return self._next(reserved=self.reserved + quantity)

    def released(self, quantity: int) -> Product:
        return self._next(reserved=self.reserved - quantity)

    def committed(self, quantity: int) -> Product:
        """Reserved units leave the warehouse."""
        return self._next(on_hand=self.on_hand - quantity, reserved=self.reserved - quantity)

    def returned(self, quantity: int) -> Product:
        return self._next(on_hand=self.on_hand + quantity)

    def removed(self) -> Product:
        return self._next(deleted=True)


class ReservationStatus(StrEnum):
    RESERVED = "RESERVED"
    FAILED = "FAILED"
    RELEASED = "RELEASED"
    COMMITTED = "COMMITTED"
    RETURNED = "RETURNED"


@dataclass(frozen=True)
class Reservation:
    order_id: str
    status: ReservationStatus
    items: tuple[tuple[str, int], ...] = ()
    failure_reason: str | None = None
    failed_skus: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReservationDecision:
    """Either every product with its new state, or why the order cannot be reserved."""

    products: tuple[Product, ...] = ()
    failure_reason: str | None = None
    failed_skus: tuple[str, ...] = ()


def merge_items(items: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """One line per sku (quantities of repeated skus added), in sku order."""
    totals: dict[str, int] = {}
    for sku, quantity in items:
        totals[sku] = totals.get(sku, 0) + quantity
    return tuple(sorted(totals.items()))


def decide_reservation(
    items: tuple[tuple[str, int], ...], products: dict[str, Product | None]
) -> ReservationDecision:
    """All or nothing: an unknown or deleted product makes the order unavailable; otherwise
    any short sku makes it out of stock; otherwise every item is held."""
    known = {sku: p for sku, p in products.items() if p is not None and not p.deleted}
    unavailable = tuple(sku for sku, _ in items if sku not in known)
    if unavailable:
        return ReservationDecision(failure_reason="PRODUCT_UNAVAILABLE", failed_skus=unavailable)
    short = tuple(sku for sku, quantity in items if known[sku].available < quantity)
    if short:
        return ReservationDecision(failure_reason="OUT_OF_STOCK", failed_skus=short)
    return ReservationDecision(
        products=tuple(known[sku].reserved_for(quantity) for sku, quantity in items)
    )
