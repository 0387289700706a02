"""Inventory on the real PostgreSQL and Kafka: the contract's routes, reservations under
concurrency, idempotent commands, and replies through Kafka."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from contracts import inventory as messages
from eventing import topics
from eventing.envelope import Envelope
from eventing.registry import Decoded, envelope_for
from inventory_service import orm
from inventory_service.bootstrap import bootstrap
from inventory_service.config import Settings
from inventory_service.handlers import command_handler
from servicekit.migrations import upgrade
from tests.support.kafka_helpers import replies_through_kafka

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer test-admin"}


@pytest.fixture
def app(scratch_engine, shop_topics):
    url = scratch_engine.url.render_as_string(hide_password=False)
    upgrade(Path("inventory_service/migrations"), url)
    return bootstrap(
        Settings(database_url=url, admin_token="test-admin", db_pool_size=30), shop_topics
    )


@pytest.fixture
def client(app):
    return app.flask_app().test_client()


def new_product(client, sku="MUG-1", stock=10, **overrides):
    body = {
        "sku": sku,
        "name": "Blue mug",
        "description": "A mug",
        "category": "kitchen",
        "price_cents": 1200,
        "stock": stock,
        "attributes": {"colour": "blue"},
    } | overrides
    return client.post("/products", json=body, headers=ADMIN)


def outbox_events(app) -> list[Envelope]:
    with app.engine.connect() as connection:
        rows = connection.execute(select(orm.outbox.c.envelope).order_by(orm.outbox.c.id))
        return [Envelope.model_validate_json(row.envelope) for row in rows]


def command(event) -> Decoded:
    return Decoded(envelope_for(event, correlation_id="saga-1"), event)


def reserve(order_id: str, *items: tuple[str, int]) -> Decoded:
    return command(
        messages.ReserveStock(
            order_id=order_id, items=[{"sku": sku, "quantity": quantity} for sku, quantity in items]
        )
    )


class TestProductRoutes:
    def test_creating_a_product_returns_it_with_its_stock_and_version_1(self, client):
        response = new_product(client)
        assert response.status_code == 201
        assert response.json == {
            "sku": "MUG-1",
            "name": "Blue mug",
            "description": "A mug",
            "category": "kitchen",
            "price_cents": 1200,
            "stock_on_hand": 10,
            "stock_reserved": 0,
            "stock_available": 10,
            "attributes": {"colour": "blue"},
            "version": 1,
        }
        assert client.get("/products/MUG-1").json == response.json

    def test_a_duplicate_sku_is_a_409_even_after_deletion(self, client):
        new_product(client)
        assert new_product(client).status_code == 409
        client.delete("/products/MUG-1", headers=ADMIN)
        assert new_product(client).status_code == 409

    @pytest.mark.parametrize(
        "body",
        [{"price_cents": -1}, {"stock": -2}, {"sku": ""}, {"price_cents": 12.5}, {"name": ""}],
    )
    def test_invalid_values_are_a_422(self, client, body):
        response = new_product(client, **body)
        assert response.status_code == 422, response.json
        assert response.content_type == "application/problem+json"

    def test_writes_need_the_admin_token(self, client):
        body = {"sku": "X-1", "name": "x", "category": "c", "price_cents": 1, "stock": 1}
        assert client.post("/products", json=body).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert client.post("/products", json=body, headers=wrong).status_code == 403
        assert client.delete("/products/X-1").status_code == 401

    def test_patch_changes_details_and_bumps_the_version(self, client):
        new_product(client)
        response = client.patch(
            "/products/MUG-1", json={"price_cents": 1500, "name": "Big mug"}, headers=ADMIN
        )
        assert (response.status_code, response.json["price_cents"], response.json["version"]) == (
            200,
            1500,
            2,
        )
        assert client.patch("/products/MUG-1", json={}, headers=ADMIN).status_code == 422
        assert client.patch("/products/NOPE", json={"name": "x"}, headers=ADMIN).status_code == 404

    def test_restock_adds_stock_and_needs_a_positive_quantity(self, client):
        new_product(client, stock=2)
        response = client.post("/products/MUG-1/restock", json={"quantity": 5}, headers=ADMIN)
        assert (response.json["stock_on_hand"], response.json["version"]) == (7, 2)
        assert (
            client.post("/products/MUG-1/restock", json={"quantity": 0}, headers=ADMIN).status_code
            == 422
        )
        assert (
            client.post("/products/NOPE/restock", json={"quantity": 1}, headers=ADMIN).status_code
            == 404
        )

    def test_a_deleted_product_is_gone_from_reads_and_lists(self, client):
        new_product(client)
        assert client.delete("/products/MUG-1", headers=ADMIN).status_code == 204
        assert client.get("/products/MUG-1").status_code == 404
        assert client.delete("/products/MUG-1", headers=ADMIN).status_code == 404
        assert client.get("/products").json["total"] == 0

    def test_listing_pages_by_sku_and_filters_by_category(self, client):
        for n in range(5):
            new_product(client, sku=f"K-{n}", category="kitchen")
        new_product(client, sku="G-1", category="garden")
        page = client.get("/products?category=kitchen&page=2&page_size=2").json
        assert ([p["sku"] for p in page["items"]], page["total"], page["page"]) == (
            ["K-2", "K-3"],
            5,
            2,
        )
        assert client.get("/products?page=0").status_code == 422
        assert client.get("/products?page_size=101").status_code == 422

    def test_malformed_json_is_a_400(self, client):
        response = client.post(
            "/products", data="{", content_type="application/json", headers=ADMIN
        )
        assert response.status_code == 400

    def test_every_change_publishes_the_full_state_with_a_growing_version(self, app, client):
        new_product(client)
        client.patch("/products/MUG-1", json={"name": "Red mug"}, headers=ADMIN)
        client.post("/products/MUG-1/restock", json={"quantity": 1}, headers=ADMIN)
        client.delete("/products/MUG-1", headers=ADMIN)
        published = outbox_events(app)
        assert [(e.type, e.payload["version"]) for e in published] == [
            ("ProductCreated", 1),
            ("ProductUpdated", 2),
            ("StockChanged", 3),
            ("ProductDeleted", 4),
        ]
        assert published[1].payload["name"] == "Red mug"
        assert published[2].payload["stock_on_hand"] == 11
        assert all(e.aggregate_id == "MUG-1" for e in published)


class TestReservations:
    def test_fifty_concurrent_reservations_of_ten_units_give_exactly_ten(self, app, client):
        new_product(client, stock=10)
        handle = command_handler(app.uow_factory)
        start = threading.Barrier(50)

        def one(n: int) -> None:
            start.wait()
            handle(reserve(f"order-{n}", ("MUG-1", 1)))

        with ThreadPoolExecutor(50) as pool:
            list(pool.map(one, range(50)))
        replies = [e for e in outbox_events(app) if e.aggregate_type == "Reservation"]
        assert [e.type for e in replies].count("StockReserved") == 10
        assert [e.payload.get("reason") for e in replies].count("OUT_OF_STOCK") == 40
        product = client.get("/products/MUG-1").json
        assert (product["stock_available"], product["stock_reserved"]) == (0, 10)

    def test_an_order_with_one_short_item_holds_nothing(self, app, client):
        new_product(client, sku="A-1", stock=5)
        new_product(client, sku="B-1", stock=1)
        command_handler(app.uow_factory)(reserve("o-1", ("A-1", 2), ("B-1", 2)))
        [reply] = [e for e in outbox_events(app) if e.aggregate_type == "Reservation"]
        assert (reply.type, reply.payload["skus"]) == ("StockReservationFailed", ["B-1"])
        assert client.get("/products/A-1").json["stock_reserved"] == 0

    def test_an_unknown_or_deleted_product_makes_the_order_unavailable(self, app, client):
        new_product(client, sku="GONE-1")
        client.delete("/products/GONE-1", headers=ADMIN)
        command_handler(app.uow_factory)(reserve("o-2", ("GONE-1", 1)))
        [reply] = [e for e in outbox_events(app) if e.aggregate_type == "Reservation"]
        assert reply.payload["reason"] == "PRODUCT_UNAVAILABLE"

    def test_reserve_commit_release_and_return_move_stock_once_however_often_sent(
        self, app, client
    ):
        new_product(client, stock=10)
        handle = command_handler(app.uow_factory)
        reserve_command = reserve("o-3", ("MUG-1", 4))
        handle(reserve_command)
        handle(reserve_command)  # the same event again: the inbox drops it
        handle(reserve("o-3", ("MUG-1", 4)))  # a retried command: same reply, no effect
        assert client.get("/products/MUG-1").json["stock_reserved"] == 4
        for _ in range(2):
            handle(command(messages.CommitStock(order_id="o-3")))
        assert (
            client.get("/products/MUG-1").json["stock_on_hand"],
            client.get("/products/MUG-1").json["stock_reserved"],
        ) == (6, 0)
        for _ in range(2):
            handle(command(messages.ReturnStock(order_id="o-3")))
        assert client.get("/products/MUG-1").json["stock_on_hand"] == 10
        replies = [e.type for e in outbox_events(app) if e.aggregate_type == "Reservation"]
        assert replies == [
            "StockReserved",
            "StockReserved",
            "StockCommitted",
            "StockCommitted",
            "StockReturned",
            "StockReturned",
        ]

    def test_releasing_gives_the_stock_back_and_a_late_reserve_then_holds_nothing(
        self, app, client
    ):
        new_product(client, stock=3)
        handle = command_handler(app.uow_factory)
        handle(reserve("o-4", ("MUG-1", 2)))
        handle(command(messages.ReleaseStock(order_id="o-4")))
        handle(command(messages.ReleaseStock(order_id="o-5")))  # never reserved
        handle(reserve("o-5", ("MUG-1", 1)))  # arrives after its release
        product = client.get("/products/MUG-1").json
        assert (product["stock_on_hand"], product["stock_reserved"]) == (3, 0)
        replies = [
            (e.aggregate_id, e.type)
            for e in outbox_events(app)
            if e.aggregate_type == "Reservation"
        ]
        assert replies[-1] == ("o-5", "StockReleased")

    def test_committing_an_unreserved_order_is_refused(self, app):
        with pytest.raises(Exception, match="cannot move"):
            command_handler(app.uow_factory)(command(messages.CommitStock(order_id="nope")))


def test_a_reserve_command_on_kafka_is_answered_on_kafka(app, client, shop_topics):
    new_product(client, sku="KAFKA-1", stock=2)
    order_id = f"order-{uuid.uuid4().hex[:8]}"
    request = messages.ReserveStock(order_id=order_id, items=[{"sku": "KAFKA-1", "quantity": 2}])
    envelope = envelope_for(request, correlation_id="saga-42")
    mine = replies_through_kafka(
        shop_topics, app.tasks(), envelope, topics.INVENTORY_COMMANDS, topics.RESERVATIONS
    )
    assert [type(d.event).__name__ for d in mine] == ["StockReserved"]
    assert mine[0].envelope.correlation_id == "saga-42", "the reply answers the saga"
    assert mine[0].envelope.causation_id == str(envelope.event_id)
