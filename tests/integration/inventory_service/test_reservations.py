"""The sagas' commands applied by inventory's dispatcher on the real database: all-or-nothing
reservations under concurrency, compensation, commit and return, each command idempotent."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from inventory_service.domain import ReservationStateError
from tests.integration.inventory_service.support import (
    ADMIN,
    commit,
    new_product,
    outbox_events,
    release,
    replies,
    reserve,
    return_stock,
    stock,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def handle(app):
    return app.dispatcher


def reply_types(app, order_id: str | None = None) -> list[str]:
    return [e.type for e in replies(app, order_id)]


def stock_changes(app) -> list[tuple[str, str | None, int, int, int]]:
    """(reason, order id, version, on hand, reserved) of every StockChanged, oldest first."""
    return [
        (
            e.payload["reason"],
            e.payload["order_id"],
            e.payload["version"],
            e.payload["stock_on_hand"],
            e.payload["stock_reserved"],
        )
        for e in outbox_events(app, "Product")
        if e.type == "StockChanged"
    ]


class TestReserve:
    def test_a_reservation_holds_the_stock_and_replies_with_the_items(self, app, client, handle):
        new_product(client, sku="A-1", stock=5)
        new_product(client, sku="B-1", stock=5)
        handle(reserve("o-1", ("B-1", 1), ("A-1", 2), ("B-1", 2)))
        [reply] = replies(app)
        assert (reply.type, reply.aggregate_id, reply.payload["items"]) == (
            "StockReserved",
            "o-1",
            [{"sku": "A-1", "quantity": 2}, {"sku": "B-1", "quantity": 3}],
        )
        assert reply.correlation_id == "saga-1"
        assert (stock(client, "A-1"), stock(client, "B-1")) == ((5, 2), (5, 3))
        product = client.get("/products/A-1").json
        assert (product["stock_available"], product["version"]) == (3, 2)

    def test_each_reserved_sku_publishes_its_full_state_with_the_order(self, app, client, handle):
        new_product(client, stock=5)
        handle(reserve("o-1", ("MUG-1", 2)))
        [changed] = [e for e in outbox_events(app, "Product") if e.type == "StockChanged"]
        assert changed.payload == {
            "sku": "MUG-1",
            "version": 2,
            "name": "Blue mug",
            "description": "A mug",
            "category": "kitchen",
            "price_cents": 1200,
            "attributes": {"colour": "blue"},
            "stock_on_hand": 5,
            "stock_reserved": 2,
            "stock_available": 3,
            "reason": "RESERVED",
            "order_id": "o-1",
        }

    def test_fifty_concurrent_reservations_of_ten_units_give_exactly_ten(self, app, client, handle):
        new_product(client, stock=10)
        start = threading.Barrier(50)

        def one(n: int) -> None:
            start.wait()
            handle(reserve(f"order-{n}", ("MUG-1", 1)))

        with ThreadPoolExecutor(50) as pool:
            list(pool.map(one, range(50)))
        answers = replies(app)
        assert len(answers) == 50
        assert [e.type for e in answers].count("StockReserved") == 10
        assert [e.payload.get("reason") for e in answers].count("OUT_OF_STOCK") == 40
        product = client.get("/products/MUG-1").json
        assert (product["stock_available"], product["stock_reserved"], product["version"]) == (
            0,
            10,
            11,
        )
        assert [version for _, _, version, _, _ in stock_changes(app)] == list(range(2, 12))

    def test_concurrent_orders_naming_skus_in_opposite_orders_never_deadlock(
        self, app, client, handle
    ):
        new_product(client, sku="A-1", stock=10)
        new_product(client, sku="B-1", stock=10)
        start = threading.Barrier(30)

        def one(n: int) -> None:
            start.wait()
            items = [("A-1", 1), ("B-1", 1)]
            handle(reserve(f"order-{n}", *(items if n % 2 else items[::-1])))

        with ThreadPoolExecutor(30) as pool:
            list(pool.map(one, range(30)))
        assert reply_types(app).count("StockReserved") == 10
        assert (stock(client, "A-1"), stock(client, "B-1")) == ((10, 10), (10, 10))

    def test_an_order_with_one_short_item_holds_nothing(self, app, client, handle):
        new_product(client, sku="A-1", stock=5)
        new_product(client, sku="B-1", stock=1)
        new_product(client, sku="C-1", stock=0)
        handle(reserve("o-1", ("A-1", 2), ("B-1", 2), ("C-1", 1)))
        [reply] = replies(app)
        assert (reply.type, reply.payload["reason"], reply.payload["skus"]) == (
            "StockReservationFailed",
            "OUT_OF_STOCK",
            ["B-1", "C-1"],
        )
        assert stock(client, "A-1") == (5, 0)
        assert client.get("/products/A-1").json["version"] == 1
        assert stock_changes(app) == []

    def test_an_unknown_or_deleted_product_makes_the_order_unavailable(self, app, client, handle):
        new_product(client, sku="A-1", stock=5)
        new_product(client, sku="GONE-1")
        client.delete("/products/GONE-1", headers=ADMIN)
        handle(reserve("o-1", ("A-1", 1), ("GONE-1", 1), ("NEVER-1", 1)))
        [reply] = replies(app)
        assert (reply.payload["reason"], reply.payload["skus"]) == (
            "PRODUCT_UNAVAILABLE",
            ["GONE-1", "NEVER-1"],
        )
        assert stock(client, "A-1") == (5, 0)


class TestReserveIdempotency:
    def test_a_duplicate_event_is_ignored(self, app, client, handle):
        new_product(client, stock=10)
        request = reserve("o-1", ("MUG-1", 4))
        handle(request)
        handle(request)
        assert stock(client) == (10, 4)
        assert reply_types(app) == ["StockReserved"]

    def test_a_retried_command_gets_the_same_reply_and_reserves_nothing_more(
        self, app, client, handle
    ):
        new_product(client, stock=10)
        handle(reserve("o-1", ("MUG-1", 4)))
        handle(reserve("o-1", ("MUG-1", 4)))
        assert stock(client) == (10, 4)
        first, second = replies(app)
        assert (second.type, second.payload) == (first.type, first.payload)
        assert len(stock_changes(app)) == 1

    def test_a_retried_failed_command_gets_the_recorded_failure_even_after_a_restock(
        self, app, client, handle
    ):
        new_product(client, stock=1)
        handle(reserve("o-1", ("MUG-1", 3)))
        client.post("/products/MUG-1/restock", json={"quantity": 10}, headers=ADMIN)
        handle(reserve("o-1", ("MUG-1", 3)))
        assert [(e.type, e.payload["reason"]) for e in replies(app)] == [
            ("StockReservationFailed", "OUT_OF_STOCK"),
            ("StockReservationFailed", "OUT_OF_STOCK"),
        ]
        assert stock(client) == (11, 0)


class TestRelease:
    def test_releasing_gives_the_stock_back(self, app, client, handle):
        new_product(client, stock=3)
        handle(reserve("o-1", ("MUG-1", 2)))
        handle(release("o-1"))
        assert stock(client) == (3, 0)
        assert reply_types(app) == ["StockReserved", "StockReleased"]
        assert stock_changes(app)[-1] == ("RELEASED", "o-1", 3, 3, 0)

    def test_a_duplicate_or_retried_release_replies_again_and_changes_nothing(
        self, app, client, handle
    ):
        new_product(client, stock=3)
        handle(reserve("o-1", ("MUG-1", 2)))
        request = release("o-1")
        handle(request)
        handle(request)
        handle(release("o-1"))
        assert stock(client) == (3, 0)
        assert reply_types(app) == ["StockReserved", "StockReleased", "StockReleased"]
        assert len(stock_changes(app)) == 2

    def test_a_release_before_its_reserve_makes_the_late_reserve_hold_nothing(
        self, app, client, handle
    ):
        new_product(client, stock=3)
        handle(release("o-1"))
        handle(reserve("o-1", ("MUG-1", 1)))
        assert stock(client) == (3, 0)
        assert reply_types(app) == ["StockReleased", "StockReleased"]

    def test_releasing_a_failed_reservation_is_recorded_so_a_retried_reserve_holds_nothing(
        self, app, client, handle
    ):
        new_product(client, stock=1)
        handle(reserve("o-1", ("MUG-1", 2)))
        handle(release("o-1"))
        client.post("/products/MUG-1/restock", json={"quantity": 5}, headers=ADMIN)
        handle(reserve("o-1", ("MUG-1", 2)))
        assert stock(client) == (6, 0)
        assert reply_types(app) == ["StockReservationFailed", "StockReleased", "StockReleased"]

    def test_releasing_committed_stock_is_refused(self, app, client, handle):
        new_product(client, stock=3)
        handle(reserve("o-1", ("MUG-1", 2)))
        handle(commit("o-1"))
        with pytest.raises(ReservationStateError):
            handle(release("o-1"))
        assert stock(client) == (1, 0)


class TestCommit:
    def test_committing_takes_the_reserved_stock_for_good(self, app, client, handle):
        new_product(client, stock=10)
        handle(reserve("o-1", ("MUG-1", 4)))
        handle(commit("o-1"))
        product = client.get("/products/MUG-1").json
        assert (product["stock_on_hand"], product["stock_reserved"], product["version"]) == (
            6,
            0,
            3,
        )
        assert reply_types(app) == ["StockReserved", "StockCommitted"]
        assert stock_changes(app)[-1] == ("COMMITTED", "o-1", 3, 6, 0)

    def test_a_duplicate_or_retried_commit_replies_again_and_changes_nothing(
        self, app, client, handle
    ):
        new_product(client, stock=10)
        handle(reserve("o-1", ("MUG-1", 4)))
        request = commit("o-1")
        handle(request)
        handle(request)
        handle(commit("o-1"))
        assert stock(client) == (6, 0)
        assert reply_types(app) == ["StockReserved", "StockCommitted", "StockCommitted"]
        assert len(stock_changes(app)) == 2

    @pytest.mark.parametrize("before", [[], [reserve("o-1", ("MUG-1", 99))], [release("o-1")]])
    def test_committing_an_order_that_holds_no_stock_is_refused(self, app, client, handle, before):
        new_product(client, stock=10)
        for request in before:
            handle(request)
        with pytest.raises(ReservationStateError, match="cannot move"):
            handle(commit("o-1"))
        assert stock(client) == (10, 0)
        assert "StockCommitted" not in reply_types(app)

    def test_a_refused_command_leaves_no_trace_so_a_redelivery_is_refused_again(self, app, handle):
        request = commit("o-1")
        for _ in range(2):
            with pytest.raises(ReservationStateError):
                handle(request)


class TestReturn:
    def test_returning_puts_committed_stock_back_on_hand(self, app, client, handle):
        new_product(client, stock=10)
        handle(reserve("o-1", ("MUG-1", 4)))
        handle(commit("o-1"))
        handle(return_stock("o-1"))
        assert stock(client) == (10, 0)
        assert reply_types(app) == ["StockReserved", "StockCommitted", "StockReturned"]
        assert stock_changes(app)[-1] == ("RETURNED", "o-1", 4, 10, 0)

    def test_a_duplicate_or_retried_return_replies_again_and_changes_nothing(
        self, app, client, handle
    ):
        new_product(client, stock=10)
        handle(reserve("o-1", ("MUG-1", 4)))
        handle(commit("o-1"))
        request = return_stock("o-1")
        handle(request)
        handle(request)
        handle(return_stock("o-1"))
        assert stock(client) == (10, 0)
        assert reply_types(app) == [
            "StockReserved",
            "StockCommitted",
            "StockReturned",
            "StockReturned",
        ]
        assert len(stock_changes(app)) == 3

    def test_late_retries_of_earlier_commands_change_nothing_once_returned(
        self, app, client, handle
    ):
        new_product(client, stock=10)
        handle(reserve("o-1", ("MUG-1", 4)))
        handle(commit("o-1"))
        handle(return_stock("o-1"))
        handle(reserve("o-1", ("MUG-1", 4)))
        handle(commit("o-1"))
        assert stock(client) == (10, 0)
        assert reply_types(app)[-2:] == ["StockReserved", "StockCommitted"]
        assert len(stock_changes(app)) == 3

    def test_returning_stock_that_was_never_committed_is_refused(self, app, client, handle):
        new_product(client, stock=10)
        handle(reserve("o-1", ("MUG-1", 4)))
        with pytest.raises(ReservationStateError):
            handle(return_stock("o-1"))
        assert stock(client) == (10, 4)


def test_a_deleted_product_still_gets_its_reserved_stock_back(app, client, handle):
    new_product(client, stock=3)
    handle(reserve("o-1", ("MUG-1", 2)))
    client.delete("/products/MUG-1", headers=ADMIN)
    handle(release("o-1"))
    assert [e.type for e in outbox_events(app, "Product")][-2:] == [
        "ProductDeleted",
        "StockChanged",
    ]
    assert replies(app)[-1].type == "StockReleased"
