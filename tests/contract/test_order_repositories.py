"""The order service's repositories, one spec for both adapters (in memory and PostgreSQL):
orders, idempotency keys, the catalogue and saga read models, and the rate limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from order_service.domain import CatalogueEntry, LineItem, Order, OrderStatus
from order_service.uow import OrderUnitOfWork
from tests.contract.order_adapters import (  # noqa: F401 (the fixtures)
    OrderAdapter,
    adapter_fixture,
    fresh_id,
    order_database_fixture,
)

T = TypeVar("T")
HUGE_WINDOW_S = 100_000_000
"""Windows start at multiples of their length since the epoch: one this long cannot end
during a test."""


def committed(adapter: OrderAdapter, work: Callable[[OrderUnitOfWork], T]) -> T:
    """`work` in a unit of work of its own, committed."""
    with adapter.unit_of_work() as uow:
        result = work(uow)
        uow.commit()
    return result


def read(adapter: OrderAdapter, query: Callable[[OrderUnitOfWork], T]) -> T:
    with adapter.unit_of_work() as uow:
        return query(uow)


def new_order(customer_id: str = "c-1", *items: LineItem) -> Order:
    return Order(
        order_id=fresh_id("o"),
        customer_id=customer_id,
        payment_method="tok_visa",
        items=items or (LineItem("MUG-1", 2, 1200), LineItem("PLATE-1", 1, 750)),
    )


class TestOrderRepository:
    def test_an_added_order_reads_back_whole_and_stamped(self, adapter):
        order = new_order()
        committed(adapter, lambda uow: uow.orders.add(order))
        stored = read(adapter, lambda uow: uow.orders.get(order.order_id))
        assert stored is not None
        assert replace(stored, created_at=None, updated_at=None) == order
        assert (stored.total_cents, stored.status) == (3150, OrderStatus.PENDING)
        assert stored.created_at is not None
        assert stored.created_at == stored.updated_at

    def test_an_unknown_order_is_none_locked_or_not(self, adapter):
        assert read(adapter, lambda uow: uow.orders.get(fresh_id("o"))) is None
        assert read(adapter, lambda uow: uow.orders.get(fresh_id("o"), lock=True)) is None

    def test_saving_stores_the_lifecycle_and_touches_updated_at_only(self, adapter):
        order = new_order()
        committed(adapter, lambda uow: uow.orders.add(order))
        added = read(adapter, lambda uow: uow.orders.get(order.order_id))
        assert added is not None
        changed = replace(
            added,
            status=OrderStatus.REJECTED,
            rejection_reason="OUT_OF_STOCK",
            customer_id="someone-else",
            items=(),
        )
        committed(adapter, lambda uow: uow.orders.save(changed))
        saved = read(adapter, lambda uow: uow.orders.get(order.order_id, lock=True))
        assert saved is not None
        assert (saved.status, saved.rejection_reason) == (OrderStatus.REJECTED, "OUT_OF_STOCK")
        assert (saved.customer_id, saved.items) == (order.customer_id, order.items)
        assert saved.created_at == added.created_at
        assert saved.updated_at is not None and added.updated_at is not None
        assert saved.updated_at > added.updated_at

    def test_a_requested_cancellation_is_stored(self, adapter):
        order = replace(new_order(), status=OrderStatus.APPROVED)
        committed(adapter, lambda uow: uow.orders.add(order))
        committed(adapter, lambda uow: uow.orders.save(order.cancellation_asked()))
        saved = read(adapter, lambda uow: uow.orders.get(order.order_id))
        assert saved is not None
        assert (saved.status, saved.cancellation_requested) == (OrderStatus.APPROVED, True)

    def test_a_customers_orders_come_newest_first_in_pages_with_their_total(self, adapter):
        customer = fresh_id("c")
        placed = [new_order(customer) for _ in range(3)]
        for order in placed:
            committed(adapter, lambda uow, order=order: uow.orders.add(order))
        committed(adapter, lambda uow: uow.orders.add(new_order(fresh_id("c"))))

        def page(number: int) -> tuple[list[str], int]:
            found, total = read(adapter, lambda uow: uow.orders.for_customer(customer, number, 2))
            return [o.order_id for o in found], total

        newest_first = [o.order_id for o in reversed(placed)]
        assert page(1) == (newest_first[:2], 3)
        assert page(2) == (newest_first[2:], 3)
        assert page(3) == ([], 3)
        [first, *_], _ = read(adapter, lambda uow: uow.orders.for_customer(customer, 1, 1))
        assert first.items == placed[-1].items

    def test_a_customer_without_orders_has_an_empty_first_page(self, adapter):
        assert read(adapter, lambda uow: uow.orders.for_customer(fresh_id("c"), 1, 20)) == (
            [],
            0,
        )


class TestIdempotencyKeys:
    def test_a_new_key_is_recorded_and_a_used_one_answers_with_its_first_use(self, adapter):
        key = fresh_id("key")
        assert (
            committed(adapter, lambda uow: uow.idempotency_keys.claim(key, "fp-1", "o-1")) is None
        )
        again = committed(adapter, lambda uow: uow.idempotency_keys.claim(key, "fp-2", "o-2"))
        assert again == ("fp-1", "o-1")
        assert committed(adapter, lambda uow: uow.idempotency_keys.claim(key, "fp-3", "o-3")) == (
            "fp-1",
            "o-1",
        ), "a refused claim records nothing"

    def test_keys_are_independent(self, adapter):
        first, second = fresh_id("key"), fresh_id("key")
        committed(adapter, lambda uow: uow.idempotency_keys.claim(first, "fp", "o-1"))
        assert (
            committed(adapter, lambda uow: uow.idempotency_keys.claim(second, "fp", "o-2")) is None
        )


def product(name: str = "Mug", price_cents: int = 1200, deleted: bool = False) -> dict:
    return {"name": name, "price_cents": price_cents, "deleted": deleted}


class TestCatalogue:
    def test_a_newer_version_applies_and_an_older_or_equal_one_changes_nothing(self, adapter):
        sku = fresh_id("SKU")
        assert committed(adapter, lambda uow: uow.catalogue.apply(sku, 2, product(price_cents=200)))
        assert not committed(adapter, lambda uow: uow.catalogue.apply(sku, 1, product("Old", 100)))
        assert not committed(adapter, lambda uow: uow.catalogue.apply(sku, 2, product("Same", 2)))
        assert read(adapter, lambda uow: uow.catalogue.entries([sku])) == {
            sku: CatalogueEntry(sku, "Mug", 200, 2, False)
        }
        assert committed(adapter, lambda uow: uow.catalogue.apply(sku, 5, product("New", 500)))
        assert read(adapter, lambda uow: uow.catalogue.entries([sku]))[sku] == CatalogueEntry(
            sku, "New", 500, 5, False
        )

    def test_entries_are_the_known_skus_among_those_asked_deleted_ones_marked(self, adapter):
        kept, deleted, unknown = fresh_id("SKU"), fresh_id("SKU"), fresh_id("SKU")
        committed(adapter, lambda uow: uow.catalogue.apply(kept, 1, product()))
        committed(adapter, lambda uow: uow.catalogue.apply(deleted, 1, product()))
        committed(adapter, lambda uow: uow.catalogue.apply(deleted, 2, product("", 0, True)))
        entries = read(adapter, lambda uow: uow.catalogue.entries([kept, deleted, unknown]))
        assert entries == {
            kept: CatalogueEntry(kept, "Mug", 1200, 1, False),
            deleted: CatalogueEntry(deleted, "", 0, 2, True),
        }
        assert read(adapter, lambda uow: uow.catalogue.entries([])) == {}


class TestRateLimits:
    def test_a_customer_is_let_through_up_to_the_limit_then_told_how_long_to_wait(self, adapter):
        customer = fresh_id("c")

        def take() -> float | None:
            return committed(adapter, lambda uow: uow.rate_limits.take(customer, 3, HUGE_WINDOW_S))

        assert [take() for _ in range(3)] == [None, None, None]
        waits = [take(), take()]
        assert all(w is not None and 0 < w <= HUGE_WINDOW_S for w in waits), waits

    def test_each_customer_has_a_count_of_their_own(self, adapter):
        busy, calm = fresh_id("c"), fresh_id("c")
        for _ in range(2):
            committed(adapter, lambda uow: uow.rate_limits.take(busy, 1, HUGE_WINDOW_S))
        assert committed(adapter, lambda uow: uow.rate_limits.take(calm, 1, HUGE_WINDOW_S)) is None
