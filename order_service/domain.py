"""Orders and their checkout lifecycle: the rules, with no I/O.

    PENDING --saga approves--> APPROVED --cancellation requested--> (APPROVED, cancelling)
    PENDING --saga rejects---> REJECTED                          --saga completes--> CANCELLED

Applying a transition an order has already made is a no-op (commands may be redelivered);
any other move is refused. Prices come from the catalogue as it was when the order was placed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

REJECTION_REASONS = frozenset(
    {"OUT_OF_STOCK", "PAYMENT_DECLINED", "INSUFFICIENT_FUNDS", "TIMEOUT", "PRODUCT_UNAVAILABLE"}
)


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


class OrderError(Exception):
    """Base of the domain's refusals."""


class OrderNotFound(OrderError):
    pass


class InvalidTransition(OrderError):
    pass


class UnknownProducts(OrderError):
    def __init__(self, positions: list[int], skus: list[str]):
        super().__init__(f"unknown or unavailable products: {', '.join(skus)}")
        self.positions = positions
        self.skus = skus


class IdempotencyConflict(OrderError):
    """The Idempotency-Key was used before with a different request."""


@dataclass(frozen=True)
class LineItem:
    sku: str
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass(frozen=True)
class CatalogueEntry:
    sku: str
    name: str
    price_cents: int
    version: int
    deleted: bool = False


@dataclass(frozen=True)
class Order:
    order_id: str
    customer_id: str
    payment_method: str
    items: tuple[LineItem, ...]
    status: OrderStatus = OrderStatus.PENDING
    rejection_reason: str | None = None
    cancellation_requested: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def total_cents(self) -> int:
        return sum(item.total_cents for item in self.items)

    def approved(self) -> Order:
        if self.status is OrderStatus.APPROVED:
            return self
        self._require(OrderStatus.PENDING, "approve")
        return replace(self, status=OrderStatus.APPROVED)

    def rejected(self, reason: str) -> Order:
        if reason not in REJECTION_REASONS:
            raise ValueError(f"unknown rejection reason {reason}")
        if self.status is OrderStatus.REJECTED:
            return self
        self._require(OrderStatus.PENDING, "reject")
        return replace(self, status=OrderStatus.REJECTED, rejection_reason=reason)

    def cancellation_asked(self) -> Order:
        self._require(OrderStatus.APPROVED, "cancel")
        return replace(self, cancellation_requested=True)

    def cancelled(self) -> Order:
        if self.status is OrderStatus.CANCELLED:
            return self
        self._require(OrderStatus.APPROVED, "complete the cancellation of")
        if not self.cancellation_requested:
            raise InvalidTransition(f"order {self.order_id}: no cancellation was requested")
        return replace(self, status=OrderStatus.CANCELLED)

    def _require(self, status: OrderStatus, action: str) -> None:
        if self.status is not status:
            raise InvalidTransition(f"cannot {action} order {self.order_id}: it is {self.status}")


def price_items(
    requested: list[tuple[str, int]], catalogue: dict[str, CatalogueEntry]
) -> tuple[LineItem, ...]:
    """Each requested line at the catalogue's current price; unknown skus are refused."""
    missing = [
        (position, sku)
        for position, (sku, _) in enumerate(requested)
        if sku not in catalogue or catalogue[sku].deleted
    ]
    if missing:
        raise UnknownProducts([p for p, _ in missing], [s for _, s in missing])
    return tuple(LineItem(sku, quantity, catalogue[sku].price_cents) for sku, quantity in requested)


def fingerprint(request: dict[str, Any]) -> str:
    """The same request body, whatever its key order or spacing, has the same fingerprint."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
