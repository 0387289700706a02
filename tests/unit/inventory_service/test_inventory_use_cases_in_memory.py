"""Inventory's use cases on the in-memory adapter: the sagas' commands through the dispatcher
and the use-case table its deployable runs (all-or-nothing reservations, compensation, commit
and return, each command idempotent, every reply caused by its command), and the product API's
writes through the Flask app built on the fake (each change's event and audit entry). No
server: the PostgreSQL adapter is held to the same contract in
tests/contract/test_inventory_*.py, and tests/integration/inventory_service runs the service
on the real one (concurrency included)."""

from __future__ import annotations

import pytest

from contracts import inventory as messages
from eventing import topics
from eventing.envelope import Envelope
from eventing.registry import Decoded, envelope_for
from inventory_service import services
from inventory_service.api import build_api
from inventory_service.deployable import USE_CASES
from inventory_service.domain import Product, ReservationStateError
from inventory_service.fakes import InMemoryInventoryUnitOfWork
from servicekit.app import create_service_app
from servicekit.dispatch import Dispatcher

ADMIN = {"Authorization": "Bearer test-admin"}


@pytest.fixture
def uow() -> InMemoryInventoryUnitOfWork:
    return InMemoryInventoryUnitOfWork()


@pytest.fixture
def handle(uow) -> Dispatcher[InMemoryInventoryUnitOfWork]:
    return Dispatcher(lambda: uow, USE_CASES)


@pytest.fixture
def client(uow):
    return create_service_app(build_api(lambda: uow, lambda: "test-admin"), {}).test_client()


def stocked(uow: InMemoryInventoryUnitOfWork, sku: str = "MUG-1", on_hand: int = 10) -> None:
    with uow:
        services.create_product(
            uow,
            Product(
                sku=sku,
                name="Blue mug",
                description="A mug",
                category="kitchen",
                price_cents=1200,
                attributes={"colour": "blue"},
                on_hand=on_hand,
            ),
        )
        uow.commit()


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


def emitted(uow: InMemoryInventoryUnitOfWork, topic: str) -> list[Envelope]:
    """What the committed units of work announced on `topic`, oldest first."""
    return [e.envelope for e in uow.store.outbox if e.topic == topic]


def replies(uow: InMemoryInventoryUnitOfWork) -> list[Envelope]:
    return emitted(uow, topics.RESERVATIONS)


def reply_types(uow: InMemoryInventoryUnitOfWork) -> list[str]:
    return [e.type for e in replies(uow)]


def stock_changes(uow: InMemoryInventoryUnitOfWork) -> list[tuple[str, str | None, int, int, int]]:
    """(reason, order id, version, on hand, reserved) of every StockChanged, oldest first."""
    return [
        (
            e.payload["reason"],
            e.payload["order_id"],
            e.payload["version"],
            e.payload["stock_on_hand"],
            e.payload["stock_reserved"],
        )
        for e in emitted(uow, topics.PRODUCTS)
        if e.type == "StockChanged"
    ]


def stock(uow: InMemoryInventoryUnitOfWork, sku: str = "MUG-1") -> tuple[int, int]:
    """(on hand, reserved)."""
    product = uow.products.get(sku)
    assert product is not None
    return product.on_hand, product.reserved


class TestReserve:
    def test_a_reservation_holds_the_stock_and_replies_with_the_merged_items(self, uow, handle):
        stocked(uow, "A-1", 5)
        stocked(uow, "B-1", 5)
        handle(reserve("o-1", ("B-1", 1), ("A-1", 2), ("B-1", 2)))
        [reply] = replies(uow)
        assert (reply.type, reply.aggregate_id, reply.payload["items"]) == (
            "StockReserved",
            "o-1",
            [{"sku": "A-1", "quantity": 2}, {"sku": "B-1", "quantity": 3}],
        )
        assert (stock(uow, "A-1"), stock(uow, "B-1")) == ((5, 2), (5, 3))
        assert uow.products.get("A-1").version == 2

    def test_each_reserved_sku_publishes_its_full_state_with_the_order(self, uow, handle):
        stocked(uow, on_hand=5)
        handle(reserve("o-1", ("MUG-1", 2)))
        [changed] = [e for e in emitted(uow, topics.PRODUCTS) if e.type == "StockChanged"]
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

    def test_the_reply_and_the_stock_changes_are_caused_by_the_command(self, uow, handle):
        stocked(uow, "A-1")
        stocked(uow, "B-1")
        request = reserve("o-1", ("A-1", 1), ("B-1", 1))
        handle(request)
        caused = [
            e
            for e in emitted(uow, topics.PRODUCTS) + replies(uow)
            if e.causation_id == str(request.envelope.event_id)
        ]
        assert sorted(e.type for e in caused) == ["StockChanged", "StockChanged", "StockReserved"]
        assert {e.correlation_id for e in caused} == {"saga-1"}

    def test_an_order_with_one_short_item_holds_nothing(self, uow, handle):
        stocked(uow, "A-1", 5)
        stocked(uow, "B-1", 1)
        stocked(uow, "C-1", 0)
        handle(reserve("o-1", ("A-1", 2), ("B-1", 2), ("C-1", 1)))
        [reply] = replies(uow)
        assert (reply.type, reply.payload["reason"], reply.payload["skus"]) == (
            "StockReservationFailed",
            "OUT_OF_STOCK",
            ["B-1", "C-1"],
        )
        assert stock(uow, "A-1") == (5, 0)
        assert uow.products.get("A-1").version == 1
        assert stock_changes(uow) == []

    def test_an_unknown_or_deleted_product_makes_the_order_unavailable(self, uow, handle):
        stocked(uow, "A-1", 5)
        stocked(uow, "GONE-1")
        with uow:
            services.delete_product(uow, "GONE-1")
            uow.commit()
        handle(reserve("o-1", ("A-1", 1), ("GONE-1", 1), ("NEVER-1", 1)))
        [reply] = replies(uow)
        assert (reply.payload["reason"], reply.payload["skus"]) == (
            "PRODUCT_UNAVAILABLE",
            ["GONE-1", "NEVER-1"],
        )
        assert stock(uow, "A-1") == (5, 0)


class TestRedeliveries:
    def test_a_duplicate_event_is_ignored(self, uow, handle):
        stocked(uow)
        request = reserve("o-1", ("MUG-1", 4))
        handle(request)
        handle(request)
        assert stock(uow) == (10, 4)
        assert reply_types(uow) == ["StockReserved"]

    def test_a_retried_reserve_gets_the_same_reply_and_reserves_nothing_more(self, uow, handle):
        stocked(uow)
        handle(reserve("o-1", ("MUG-1", 4)))
        handle(reserve("o-1", ("MUG-1", 4)))
        assert stock(uow) == (10, 4)
        first, second = replies(uow)
        assert (second.type, second.payload) == (first.type, first.payload)
        assert len(stock_changes(uow)) == 1

    def test_a_retried_failed_reserve_gets_the_recorded_failure_even_after_a_restock(
        self, uow, handle
    ):
        stocked(uow, on_hand=1)
        handle(reserve("o-1", ("MUG-1", 3)))
        with uow:
            services.restock(uow, "MUG-1", 10)
            uow.commit()
        handle(reserve("o-1", ("MUG-1", 3)))
        assert [(e.type, e.payload["reason"]) for e in replies(uow)] == [
            ("StockReservationFailed", "OUT_OF_STOCK"),
            ("StockReservationFailed", "OUT_OF_STOCK"),
        ]
        assert stock(uow) == (11, 0)

    @pytest.mark.parametrize("again", [release, commit])
    def test_a_duplicate_or_retried_release_or_commit_replies_again_and_changes_nothing(
        self, uow, handle, again
    ):
        stocked(uow, on_hand=3)
        handle(reserve("o-1", ("MUG-1", 2)))
        request = again("o-1")
        handle(request)
        handle(request)
        handle(again("o-1"))
        expected = "StockReleased" if again is release else "StockCommitted"
        assert reply_types(uow) == ["StockReserved", expected, expected]
        assert len(stock_changes(uow)) == 2
        assert stock(uow) == ((3, 0) if again is release else (1, 0))

    def test_late_retries_of_earlier_commands_change_nothing_once_returned(self, uow, handle):
        stocked(uow)
        handle(reserve("o-1", ("MUG-1", 4)))
        handle(commit("o-1"))
        handle(return_stock("o-1"))
        handle(return_stock("o-1"))
        handle(reserve("o-1", ("MUG-1", 4)))
        handle(commit("o-1"))
        assert stock(uow) == (10, 0)
        assert reply_types(uow)[-3:] == ["StockReturned", "StockReserved", "StockCommitted"]
        assert len(stock_changes(uow)) == 3


class TestRelease:
    def test_releasing_gives_the_stock_back(self, uow, handle):
        stocked(uow, on_hand=3)
        handle(reserve("o-1", ("MUG-1", 2)))
        request = release("o-1")
        handle(request)
        assert stock(uow) == (3, 0)
        assert reply_types(uow) == ["StockReserved", "StockReleased"]
        assert replies(uow)[-1].causation_id == str(request.envelope.event_id)
        assert stock_changes(uow)[-1] == ("RELEASED", "o-1", 3, 3, 0)

    def test_a_release_before_its_reserve_makes_the_late_reserve_hold_nothing(self, uow, handle):
        stocked(uow, on_hand=3)
        handle(release("o-1"))
        handle(reserve("o-1", ("MUG-1", 1)))
        assert stock(uow) == (3, 0)
        assert reply_types(uow) == ["StockReleased", "StockReleased"]

    def test_releasing_a_failed_reservation_is_recorded_so_a_retried_reserve_holds_nothing(
        self, uow, handle
    ):
        stocked(uow, on_hand=1)
        handle(reserve("o-1", ("MUG-1", 2)))
        handle(release("o-1"))
        with uow:
            services.restock(uow, "MUG-1", 5)
            uow.commit()
        handle(reserve("o-1", ("MUG-1", 2)))
        assert stock(uow) == (6, 0)
        assert reply_types(uow) == ["StockReservationFailed", "StockReleased", "StockReleased"]

    def test_releasing_committed_stock_is_refused(self, uow, handle):
        stocked(uow, on_hand=3)
        handle(reserve("o-1", ("MUG-1", 2)))
        handle(commit("o-1"))
        with pytest.raises(ReservationStateError):
            handle(release("o-1"))
        assert stock(uow) == (1, 0)

    def test_a_deleted_product_still_gets_its_reserved_stock_back(self, uow, handle):
        stocked(uow, on_hand=3)
        handle(reserve("o-1", ("MUG-1", 2)))
        with uow:
            services.delete_product(uow, "MUG-1")
            uow.commit()
        handle(release("o-1"))
        assert [e.type for e in emitted(uow, topics.PRODUCTS)][-2:] == [
            "ProductDeleted",
            "StockChanged",
        ]
        assert stock(uow) == (3, 0)
        assert uow.products.get("MUG-1").deleted, "the release does not bring it back"
        assert replies(uow)[-1].type == "StockReleased"


class TestCommitAndReturn:
    def test_committing_takes_the_reserved_stock_for_good(self, uow, handle):
        stocked(uow)
        handle(reserve("o-1", ("MUG-1", 4)))
        handle(commit("o-1"))
        assert stock(uow) == (6, 0)
        assert uow.products.get("MUG-1").version == 3
        assert reply_types(uow) == ["StockReserved", "StockCommitted"]
        assert stock_changes(uow)[-1] == ("COMMITTED", "o-1", 3, 6, 0)

    @pytest.mark.parametrize("before", [[], [reserve("o-1", ("MUG-1", 99))], [release("o-1")]])
    def test_committing_an_order_that_holds_no_stock_is_refused(self, uow, handle, before):
        stocked(uow)
        for request in before:
            handle(request)
        with pytest.raises(ReservationStateError, match="cannot move"):
            handle(commit("o-1"))
        assert stock(uow) == (10, 0)
        assert "StockCommitted" not in reply_types(uow)

    def test_a_refused_command_leaves_no_trace_so_a_redelivery_is_refused_again(self, uow, handle):
        request = commit("o-1")
        for _ in range(2):
            with pytest.raises(ReservationStateError):
                handle(request)
        assert uow.store.inbox == set()

    def test_returning_puts_committed_stock_back_on_hand(self, uow, handle):
        stocked(uow)
        handle(reserve("o-1", ("MUG-1", 4)))
        handle(commit("o-1"))
        handle(return_stock("o-1"))
        assert stock(uow) == (10, 0)
        assert reply_types(uow) == ["StockReserved", "StockCommitted", "StockReturned"]
        assert stock_changes(uow)[-1] == ("RETURNED", "o-1", 4, 10, 0)

    def test_returning_stock_that_was_never_committed_is_refused(self, uow, handle):
        stocked(uow)
        handle(reserve("o-1", ("MUG-1", 4)))
        with pytest.raises(ReservationStateError):
            handle(return_stock("o-1"))
        assert stock(uow) == (10, 4)


class TestProductWrites:
    """The admin API on the fake: each write's event on inventory.products, with its audit
    entry on operator.audit, committed together; a refused write leaves neither."""

    def new_product(self, client, sku: str = "MUG-1", stock: int = 10):
        body = {
            "sku": sku,
            "name": "Blue mug",
            "category": "kitchen",
            "price_cents": 1200,
            "stock": stock,
        }
        return client.post("/products", json=body, headers=ADMIN)

    def test_create_update_restock_and_delete_each_announce_the_product(self, uow, client):
        assert self.new_product(client).status_code == 201
        assert (
            client.patch("/products/MUG-1", json={"name": "Mug"}, headers=ADMIN).status_code == 200
        )
        restocked = client.post("/products/MUG-1/restock", json={"quantity": 5}, headers=ADMIN)
        assert restocked.json["stock_on_hand"] == 15
        assert client.delete("/products/MUG-1", headers=ADMIN).status_code == 204
        events = emitted(uow, topics.PRODUCTS)
        assert [(e.type, e.payload["version"]) for e in events] == [
            ("ProductCreated", 1),
            ("ProductUpdated", 2),
            ("StockChanged", 3),
            ("ProductDeleted", 4),
        ]
        assert events[1].payload["name"] == "Mug"
        assert (events[2].payload["reason"], events[2].payload["stock_on_hand"]) == (
            "RESTOCKED",
            15,
        )
        assert {e.causation_id for e in events} == {None}, "an API write is caused by no message"
        assert len({e.correlation_id for e in events}) == 4
        assert client.get("/products/MUG-1").status_code == 404

    def test_each_write_commits_its_audit_entry_with_it(self, uow, client):
        self.new_product(client, stock=2)
        client.post("/products/MUG-1/restock", json={"quantity": 5}, headers=ADMIN)
        entries = [e.payload for e in emitted(uow, topics.OPERATOR_AUDIT)]
        assert [(e["action"], e["target"], e["detail"]) for e in entries] == [
            ("product.create", "MUG-1", "price 1200 cents, stock 2"),
            ("product.restock", "MUG-1", "+5 units"),
        ]
        assert {e["actor"] for e in entries} == {"inventory-service:admin@127.0.0.1"}

    def test_a_refused_write_announces_nothing_and_audits_nothing(self, uow, client):
        self.new_product(client)
        before = list(uow.store.outbox)
        assert self.new_product(client).status_code == 409
        assert (
            client.patch("/products/NONE-1", json={"name": "x"}, headers=ADMIN).status_code == 404
        )
        too_many = client.post(
            "/products/MUG-1/restock", json={"quantity": 2_147_483_647}, headers=ADMIN
        )
        assert too_many.status_code == 422
        assert uow.store.outbox == before
        assert stock(uow) == (10, 0)
