"""The order service's repositories as the use cases see them: what is stored, not how.

Two adapters implement each of them, held to one contract (`tests/contract/test_order_*.py`):
PostgreSQL (`order_service.repository`) and in memory (`order_service.fakes`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from order_service.domain import CatalogueEntry, Order


class OrderRepository(ABC):
    @abstractmethod
    def add(self, order: Order) -> None:
        """Store a new order; its `created_at` and `updated_at` are the time it is stored."""

    @abstractmethod
    def get(self, order_id: str, *, lock: bool = False) -> Order | None:
        """The order, or None. `lock` holds it for this unit of work (a transition reads,
        decides, then saves: a concurrent one waits)."""

    @abstractmethod
    def save(self, order: Order) -> None:
        """Store an order's lifecycle (status, rejection reason, cancellation asked) and touch
        its `updated_at`; its customer and items never change."""

    @abstractmethod
    def for_customer(self, customer_id: str, page: int, page_size: int) -> tuple[list[Order], int]:
        """One page (numbered from 1) of the customer's orders, newest first, and how many
        the customer has in all."""


class IdempotencyKeys(ABC):
    @abstractmethod
    def claim(self, key: str, fingerprint: str, order_id: str) -> tuple[str, str] | None:
        """Record the key for a new order: None. If the key was used before, that use's
        (fingerprint, order_id) instead, and nothing is recorded."""


class Catalogue(ABC):
    """The products read model: each sku at the newest version seen."""

    @abstractmethod
    def entries(self, skus: list[str]) -> dict[str, CatalogueEntry]:
        """The known entries among `skus` (deleted ones included, marked so)."""

    @abstractmethod
    def apply(self, sku: str, version: int, values: dict[str, Any]) -> bool:
        """Store `values` (name, price_cents, deleted) at `version` when it is newer than the
        stored one; False, and nothing changed, when it is not."""


class RateLimits(ABC):
    """A fixed-window counter of requests per customer. Windows start at multiples of their
    length since the epoch."""

    @abstractmethod
    def take(self, customer_id: str, limit: int, window_s: int) -> float | None:
        """Count one request of the customer's; None if within `limit` per window, else the
        seconds until the window ends."""
