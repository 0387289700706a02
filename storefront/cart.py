"""The cart, kept in the session as sku -> quantity. Prices are never taken from the browser:
a cart's lines are priced from the catalogue each time they are shown, in integer cents."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

MAX_QUANTITY = 99
MAX_LINES = 30
SKU = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SESSION_KEY = "cart"


class CartError(ValueError):
    """A cart change that makes no sense (its message is shown to the customer)."""


@dataclass(frozen=True)
class CartLine:
    sku: str
    name: str
    quantity: int
    unit_price_cents: int
    stock_available: int

    @property
    def total_cents(self) -> int:
        return self.unit_price_cents * self.quantity


def parse_quantity(text: str | None) -> int:
    try:
        quantity = int((text or "").strip())
    except ValueError:
        raise CartError("the quantity must be a whole number") from None
    if not 1 <= quantity <= MAX_QUANTITY:
        raise CartError(f"the quantity must be between 1 and {MAX_QUANTITY}")
    return quantity


def valid_sku(sku: str) -> str:
    if not SKU.match(sku):
        raise CartError("that is not a product of this shop")
    return sku


class Cart:
    """The session's cart: what was added, by sku, in the order it was added."""

    def __init__(self, session: MutableMapping[str, Any]):
        self._session = session

    @property
    def quantities(self) -> dict[str, int]:
        stored = self._session.get(SESSION_KEY)
        return dict(stored) if isinstance(stored, dict) else {}

    def _save(self, quantities: dict[str, int]) -> None:
        self._session[SESSION_KEY] = quantities

    def add(self, sku: str, quantity: int) -> None:
        quantities = self.quantities
        if valid_sku(sku) not in quantities and len(quantities) >= MAX_LINES:
            raise CartError(f"a cart holds up to {MAX_LINES} different products")
        quantities[sku] = min(quantities.get(sku, 0) + quantity, MAX_QUANTITY)
        self._save(quantities)

    def set(self, sku: str, quantity: int) -> None:
        quantities = self.quantities
        if sku not in quantities:
            raise CartError("that product is not in your cart")
        quantities[sku] = quantity
        self._save(quantities)

    def remove(self, sku: str) -> None:
        quantities = self.quantities
        quantities.pop(sku, None)
        self._save(quantities)

    def clear(self) -> None:
        self._session.pop(SESSION_KEY, None)

    def count(self) -> int:
        return sum(self.quantities.values())

    def order_items(self) -> list[dict[str, Any]]:
        """The items of an order for this cart, sorted by sku: the same cart is always the
        same body, so a retried checkout matches its Idempotency-Key."""
        return [{"sku": sku, "quantity": q} for sku, q in sorted(self.quantities.items())]


def total_cents(lines: list[CartLine]) -> int:
    return sum(line.total_cents for line in lines)
