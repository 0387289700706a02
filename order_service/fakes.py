"""The order service in memory: its repositories and unit of work without a server, for
use-case tests that run in milliseconds. They hold to the same contract as the PostgreSQL
adapters (`tests/contract/test_order_*.py`).

    service = InMemoryOrderService()
    with service.unit_of_work() as uow:
        ...
        uow.commit()
    service.messages.events()  # what the outbox would publish

Units of work run one at a time, as a test drives them: each takes a snapshot of the tables
when it begins and puts it back unless it commits.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from eventing.envelope import Envelope
from order_service.domain import CatalogueEntry, Order
from order_service.ports import (
    Catalogue,
    IdempotencyKeys,
    OrderRepository,
    RateLimits,
)
from order_service.uow import OrderUnitOfWork
from sagas.framework.fakes import InMemorySagaStore, InMemorySagaTables
from servicekit.unit_of_work import InMemoryMessageStore, InMemoryUnitOfWork

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class OrderTables:
    """What the order service's database holds, as plain objects."""

    orders: dict[str, Order] = field(default_factory=dict)
    idempotency_keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    """key -> (fingerprint, order_id)"""
    catalogue: dict[str, CatalogueEntry] = field(default_factory=dict)
    sagas: InMemorySagaTables = field(default_factory=InMemorySagaTables)
    """The orders' sagas, and of the outbox what the saga store reads."""
    rate_limits: dict[str, tuple[float, int]] = field(default_factory=dict)
    """customer_id -> (window start in epoch seconds, requests counted in it)"""


@dataclass
class InMemoryOrderService:
    """One fake order service: its tables, its outbox and inbox, and its clock, shared by
    every unit of work it opens (as the real service's database is)."""

    clock: Clock = _utc_now
    """The time the rate limits read, and orders are stamped with."""
    tables: OrderTables = field(default_factory=OrderTables)
    messages: InMemoryMessageStore = field(
        default_factory=lambda: InMemoryMessageStore(consumer="order-service")
    )
    _last_stamp: datetime | None = None

    def unit_of_work(self) -> InMemoryOrderUnitOfWork:
        """A new unit of work (not yet begun): the service's `uow_factory`."""
        return InMemoryOrderUnitOfWork(self)

    def stamp(self) -> datetime:
        """The time an order is stored or saved at: the clock, but always later than the
        previous stamp (each PostgreSQL transaction has a time of its own)."""
        now = self.clock()
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = now
        return now


class InMemoryOrderUnitOfWork(InMemoryUnitOfWork, OrderUnitOfWork):
    def __init__(self, service: InMemoryOrderService):
        super().__init__(service.messages)
        self.service = service
        self.orders = InMemoryOrderRepository(service)
        self.idempotency_keys = InMemoryIdempotencyKeys(service)
        self.catalogue = InMemoryCatalogue(service)
        self.rate_limits = InMemoryRateLimits(service)

    def _begin(self) -> None:
        self.sagas = InMemorySagaStore(self.service.tables.sagas)
        super()._begin()

    def add_to_outbox(self, topic: str, envelope: Envelope) -> None:
        super().add_to_outbox(topic, envelope)
        self.service.tables.sagas.written(envelope, self.service.clock())

    def _snapshot(self) -> OrderTables:
        return copy.deepcopy(self.service.tables)

    def _restore(self, saved: OrderTables) -> None:
        self.service.tables = saved


class InMemoryOrderRepository(OrderRepository):
    def __init__(self, service: InMemoryOrderService):
        self.service = service

    def add(self, order: Order) -> None:
        now = self.service.stamp()
        self.service.tables.orders[order.order_id] = replace(order, created_at=now, updated_at=now)

    def get(self, order_id: str, *, lock: bool = False) -> Order | None:
        return self.service.tables.orders.get(order_id)

    def save(self, order: Order) -> None:
        stored = self.service.tables.orders.get(order.order_id)
        if stored is None:
            return
        self.service.tables.orders[order.order_id] = replace(
            stored,
            status=order.status,
            rejection_reason=order.rejection_reason,
            cancellation_requested=order.cancellation_requested,
            updated_at=self.service.stamp(),
        )

    def for_customer(self, customer_id: str, page: int, page_size: int) -> tuple[list[Order], int]:
        mine = sorted(
            (o for o in self.service.tables.orders.values() if o.customer_id == customer_id),
            key=lambda o: (o.created_at, o.order_id),
            reverse=True,
        )
        start = (page - 1) * page_size
        return mine[start : start + page_size], len(mine)


class InMemoryIdempotencyKeys(IdempotencyKeys):
    def __init__(self, service: InMemoryOrderService):
        self.service = service

    def claim(self, key: str, fingerprint: str, order_id: str) -> tuple[str, str] | None:
        keys = self.service.tables.idempotency_keys
        if key in keys:
            return keys[key]
        keys[key] = (fingerprint, order_id)
        return None


class InMemoryCatalogue(Catalogue):
    def __init__(self, service: InMemoryOrderService):
        self.service = service

    def entries(self, skus: list[str]) -> dict[str, CatalogueEntry]:
        catalogue = self.service.tables.catalogue
        return {sku: catalogue[sku] for sku in skus if sku in catalogue}

    def apply(self, sku: str, version: int, values: dict[str, Any]) -> bool:
        stored = self.service.tables.catalogue.get(sku)
        if stored is not None and stored.version >= version:
            return False
        self.service.tables.catalogue[sku] = CatalogueEntry(
            sku, values["name"], values["price_cents"], version, values["deleted"]
        )
        return True


class InMemoryRateLimits(RateLimits):
    def __init__(self, service: InMemoryOrderService):
        self.service = service

    def take(self, customer_id: str, limit: int, window_s: int) -> float | None:
        now = self.service.clock().timestamp()
        window_start = math.floor(now / window_s) * window_s
        counted_start, counted = self.service.tables.rate_limits.get(customer_id, (None, 0))
        requests = counted + 1 if counted_start == window_start else 1
        self.service.tables.rate_limits[customer_id] = (window_start, requests)
        return None if requests <= limit else max(window_start + window_s - now, 0.0)
