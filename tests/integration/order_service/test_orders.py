"""The order service on the real PostgreSQL and Kafka: checkout routes and their errors,
idempotency under concurrent retries, the catalogue and saga read models, and the sagas'
commands."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from contracts import inventory, orders
from eventing import topics
from eventing.envelope import Envelope
from eventing.outbox import OutboxRelay
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import Decoded, envelope_for
from order_service import orm, services
from order_service.config import Settings
from order_service.deployable import DEPLOYABLE
from servicekit.migrations import upgrade
from tests.support.kafka_helpers import run_consumer_until
from tests.support.order_messages import run_local_step

pytestmark = pytest.mark.integration


@pytest.fixture
def app(scratch_engine, shop_topics, customer_tokens):
    url = scratch_engine.url.render_as_string(hide_password=False)
    upgrade(Path("order_service/migrations"), url)
    settings = Settings(
        database_url=url, db_pool_size=25, customer_tokens=customer_tokens.settings()
    )
    return DEPLOYABLE.runtime(settings, shop_topics)


@pytest.fixture
def client(app, customer_tokens):
    """A client sending customer c-1's token with every request."""
    client = app.flask_app().test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = customer_tokens.headers("c-1")["Authorization"]
    return client


@pytest.fixture
def handle(app):
    return app.dispatcher


def product_event(sku="MUG-1", version=1, price=1200, kind=inventory.ProductCreated):
    return kind(
        sku=sku,
        version=version,
        name=f"Product {sku}",
        description="",
        category="k",
        price_cents=price,
        attributes={},
        stock_on_hand=5,
        stock_reserved=0,
        stock_available=5,
    )


def deliver(handle, event, correlation_id="saga-1") -> None:
    handle(Decoded(envelope_for(event, correlation_id=correlation_id), event))


def body(*items, customer="c-1", method="tok_visa"):
    return {
        "customer_id": customer,
        "payment_method": method,
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
    }


def post(client, payload, key=None):
    return client.post(
        "/orders", json=payload, headers={"Idempotency-Key": key or str(uuid.uuid4())}
    )


def outbox_events(app) -> list[Envelope]:
    with app.engine.connect() as connection:
        rows = connection.execute(select(orm.outbox.c.envelope).order_by(orm.outbox.c.id))
        return [Envelope.model_validate_json(r.envelope) for r in rows]


@pytest.fixture
def catalogue(handle):
    deliver(handle, product_event("MUG-1", price=1200))
    deliver(handle, product_event("PLATE-1", price=750))


class TestPlacingOrders:
    def test_an_order_is_priced_from_the_catalogue_and_starts_pending(self, app, client, catalogue):
        response = post(client, body(("MUG-1", 2), ("PLATE-1", 1)))
        assert response.status_code == 202
        order_id = response.json["order_id"]
        assert response.json == {"order_id": order_id, "status": "PENDING"}
        assert response.headers["Location"] == f"/orders/{order_id}"
        order = client.get(f"/orders/{order_id}").json
        assert (order["total_cents"], order["status"], order["rejection_reason"]) == (
            3150,
            "PENDING",
            None,
        )
        assert order["items"] == [
            {"sku": "MUG-1", "quantity": 2, "unit_price_cents": 1200},
            {"sku": "PLATE-1", "quantity": 1, "unit_price_cents": 750},
        ]
        saga = order["saga"]
        assert (saga["state"], [s["name"] for s in saga["steps"]]) == ("RUNNING", ["reserve_stock"])
        created, reserve = [e for e in outbox_events(app) if e.aggregate_id == order_id]
        assert (created.type, created.payload["total_cents"]) == ("OrderCreated", 3150)
        assert (reserve.type, reserve.correlation_id) == ("ReserveStock", saga["saga_id"]), (
            "the checkout saga started in the order's own transaction"
        )

    def test_the_same_key_and_body_return_the_same_order_and_another_body_is_a_409(
        self, client, catalogue
    ):
        first = post(client, body(("MUG-1", 1)), key="key-1")
        again = post(client, body(("MUG-1", 1)), key="key-1")
        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json["order_id"] == first.json["order_id"]
        assert post(client, body(("MUG-1", 2)), key="key-1").status_code == 409

    def test_twenty_concurrent_identical_requests_create_one_order(self, app, client, catalogue):
        start = threading.Barrier(20)
        flask_app = app.flask_app()

        def attempt(_):
            start.wait()
            own_client = flask_app.test_client()
            own_client.environ_base.update(client.environ_base)  # the same customer's token
            return post(own_client, body(("MUG-1", 1)), key="same-key")

        with ThreadPoolExecutor(20) as pool:
            responses = list(pool.map(attempt, range(20)))
        assert {r.status_code for r in responses} <= {200, 202}
        assert len({r.json["order_id"] for r in responses}) == 1
        with app.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(orm.orders)).scalar() == 1
        assert [e.type for e in outbox_events(app)].count("OrderCreated") == 1

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            (body(("NOPE-1", 1)), "items.0.sku"),
            (body(("MUG-1", 0)), "items.0.quantity"),
            ({"customer_id": "c", "payment_method": "tok_visa", "items": []}, "items"),
            (
                {
                    "customer_id": "",
                    "payment_method": "tok_visa",
                    "items": [{"sku": "MUG-1", "quantity": 1}],
                },
                "customer_id",
            ),
        ],
    )
    def test_unknown_skus_and_invalid_values_are_422s_naming_the_field(
        self, client, catalogue, payload, field
    ):
        response = post(client, payload)
        assert response.status_code == 422, response.json
        assert field in [e["field"] for e in response.json["errors"]]

    def test_the_idempotency_key_is_required_and_bad_json_is_a_400(self, client, catalogue):
        assert client.post("/orders", json=body(("MUG-1", 1))).status_code == 400
        malformed = client.post(
            "/orders", data="{", content_type="application/json", headers={"Idempotency-Key": "k"}
        )
        assert malformed.status_code == 400

    def test_an_unknown_order_is_a_404(self, client):
        assert client.get(f"/orders/{uuid.uuid4()}").status_code == 404
        assert client.post(f"/orders/{uuid.uuid4()}/cancel").status_code == 404

    def test_a_customers_orders_are_listed_newest_first_in_pages(self, client, catalogue):
        ids = [post(client, body(("MUG-1", n))).json["order_id"] for n in (1, 2, 3)]
        page = client.get("/orders?page=1&page_size=2").json
        assert ([o["order_id"] for o in page["items"]], page["total"]) == (ids[::-1][:2], 3)
        assert client.get("/orders?customer_id=c-1").json["total"] == 3


class TestCatalogueReadModel:
    def test_a_newer_price_applies_and_an_older_event_arriving_late_does_not(self, client, handle):
        deliver(handle, product_event("CUP-1", version=1, price=100))
        deliver(handle, product_event("CUP-1", version=3, price=300, kind=inventory.ProductUpdated))
        deliver(handle, product_event("CUP-1", version=2, price=200, kind=inventory.ProductUpdated))
        order_id = post(client, body(("CUP-1", 1))).json["order_id"]
        assert client.get(f"/orders/{order_id}").json["total_cents"] == 300

    def test_a_deleted_product_can_no_longer_be_ordered(self, client, handle):
        deliver(handle, product_event("CUP-2", version=1))
        deliver(handle, inventory.ProductDeleted(sku="CUP-2", version=2))
        assert post(client, body(("CUP-2", 1))).status_code == 422

    def test_the_catalogue_follows_inventory_events_through_kafka(self, app, client, shop_topics):
        sku = f"K-{uuid.uuid4().hex[:6].upper()}"
        publisher = KafkaPublisher(shop_topics)
        for event in (
            product_event(sku, 1, 500),
            product_event(sku, 2, 650, kind=inventory.ProductUpdated),
        ):
            envelope = envelope_for(event)
            publisher.publish(
                [
                    OutgoingMessage(
                        shop_topics.qualify(topics.PRODUCTS), envelope.key(), envelope.to_bytes()
                    )
                ]
            )
        consumer = app.consumer()

        def price_of_one() -> int | None:
            """What an order of one unit costs now (None while the sku is unknown): each
            probe is a new order under a key of its own, so it is priced anew."""
            response = post(client, body((sku, 1)))
            if response.status_code == 422:
                return None
            assert response.status_code in (200, 202), response.json
            return client.get(f"/orders/{response.json['order_id']}").json["total_cents"]

        run_consumer_until(consumer, lambda: price_of_one() == 650, timeout_s=120)
        assert price_of_one() == 650, "the newest event's price stays"


class TestSagaSteps:
    """Approving, rejecting and completing a cancellation: the sagas' local steps, on the
    order service's PostgreSQL."""

    def place(self, client) -> str:
        return post(client, body(("MUG-1", 1))).json["order_id"]

    def test_approve_then_cancel_moves_the_order_and_emits_each_event_once(
        self, app, client, catalogue
    ):
        order_id = self.place(client)
        for _ in range(2):
            answer, _ = run_local_step(
                app.uow_factory, services.approve_order, orders.ApproveOrder(order_id=order_id)
            )
            assert answer == orders.OrderApproved(order_id=order_id)
        assert client.get(f"/orders/{order_id}").json["status"] == "APPROVED"
        for _ in range(2):
            response = client.post(f"/orders/{order_id}/cancel")
            assert (response.status_code, response.json["status"]) == (202, "APPROVED")
        complete = orders.CompleteCancellation(order_id=order_id)
        run_local_step(app.uow_factory, services.complete_cancellation, complete)
        assert client.get(f"/orders/{order_id}").json["status"] == "CANCELLED"
        assert client.post(f"/orders/{order_id}/cancel").status_code == 409
        types = [e.type for e in outbox_events(app) if e.aggregate_id == order_id]
        assert types == [
            "OrderCreated",
            "ReserveStock",
            "OrderApproved",
            "OrderCancellationRequested",
            "RefundPayment",
            "OrderCancelled",
        ], "each saga started once, with its order's event"

    def test_a_rejection_records_the_reason_and_a_pending_order_cannot_be_cancelled(
        self, app, client, catalogue
    ):
        order_id = self.place(client)
        assert client.post(f"/orders/{order_id}/cancel").status_code == 409
        reject = orders.RejectOrder(order_id=order_id, reason="OUT_OF_STOCK")
        run_local_step(app.uow_factory, services.reject_order, reject)
        order = client.get(f"/orders/{order_id}").json
        assert (order["status"], order["rejection_reason"]) == ("REJECTED", "OUT_OF_STOCK")
        [rejected] = [e for e in outbox_events(app) if e.type == "OrderRejected"]
        assert rejected.correlation_id == "saga-1", "it carries the saga's correlation"

    def test_reject_order_v1_and_v2_through_kafka_are_both_applied(
        self, app, client, catalogue, shop_topics
    ):
        """The retired `orders.commands`, still applied: what an orchestrator of the former
        shape sent, RejectOrder v1 and v2 beside it, each applied as the same rejection (the
        upcast)."""
        by_v1, by_v2 = self.place(client), self.place(client)
        publisher = KafkaPublisher(shop_topics)
        for command in (
            orders.RejectOrder(order_id=by_v1, reason="OUT_OF_STOCK"),
            orders.RejectOrderV2(
                order_id=by_v2,
                rejection=orders.Rejection(code="PAYMENT_DECLINED", detail="card refused"),
            ),
        ):
            envelope = envelope_for(command, correlation_id="saga-1")
            publisher.publish(
                [
                    OutgoingMessage(
                        shop_topics.qualify(topics.ORDER_COMMANDS),
                        envelope.key(),
                        envelope.to_bytes(),
                    )
                ]
            )

        def rejection(order_id: str) -> tuple[str, str | None]:
            order = client.get(f"/orders/{order_id}").json
            return order["status"], order["rejection_reason"]

        run_consumer_until(
            app.consumer(),
            lambda: rejection(by_v1)[0] == rejection(by_v2)[0] == "REJECTED",
            timeout_s=120,
        )
        assert rejection(by_v1) == ("REJECTED", "OUT_OF_STOCK")
        assert rejection(by_v2) == ("REJECTED", "PAYMENT_DECLINED")
        rejected = [e for e in outbox_events(app) if e.type == "OrderRejected"]
        assert {(e.aggregate_id, e.payload["reason"]) for e in rejected} == {
            (by_v1, "OUT_OF_STOCK"),
            (by_v2, "PAYMENT_DECLINED"),
        }

    def test_the_order_shows_its_newest_saga_read_from_the_orchestrators_rows(
        self, app, client, catalogue
    ):
        order_id = self.place(client)
        checkout = client.get(f"/orders/{order_id}").json["saga"]
        run_local_step(
            app.uow_factory, services.approve_order, orders.ApproveOrder(order_id=order_id)
        )
        assert client.post(f"/orders/{order_id}/cancel").status_code == 202
        shown = client.get(f"/orders/{order_id}").json["saga"]
        assert shown["saga_id"] != checkout["saga_id"], "the cancellation, started last"
        assert (shown["state"], [s["name"] for s in shown["steps"]]) == (
            "RUNNING",
            ["refund_payment"],
        )
        listed = client.get("/orders").json["items"]
        assert {o["order_id"]: o["saga"]["saga_id"] for o in listed}[order_id] == (shown["saga_id"])


def test_order_created_reaches_kafka_through_the_outbox(app, client, catalogue, shop_topics):
    from tests.support.kafka_helpers import read_topic

    order_id = post(client, body(("MUG-1", 1))).json["order_id"]
    relay = OutboxRelay(app.engine, app.outbox, KafkaPublisher(shop_topics))
    relay.publish_pending()
    found = [
        m
        for m in read_topic(shop_topics, shop_topics.qualify(topics.ORDERS), expected=1)
        if m.key() == order_id.encode()
    ]
    assert len(found) == 1
