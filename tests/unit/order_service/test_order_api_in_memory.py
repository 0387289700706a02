"""The order API over the in-memory adapter (no server): the Idempotency-Key's replies (202,
then 200 for the same body, 409 for another), unknown products as a 422 naming the field, the
rate limit's 429 with Retry-After, and what a customer may see and cancel. The same routes on
PostgreSQL: tests/integration/order_service/test_orders.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from contracts import inventory, orders
from eventing.registry import Decoded, envelope_for
from order_service import services
from order_service.api import OrderRateLimit, build_api
from order_service.deployable import USE_CASES
from order_service.fakes import InMemoryOrderService
from sagas.config import Settings as SagaSettings
from sagas.definitions import cancellation_saga, checkout_saga
from sagas.deployable import build_orchestrator
from sagas.framework.engine import SagaEngine
from servicekit.app import create_service_app
from servicekit.customer_tokens import CustomerTokenVerifier
from servicekit.dispatch import Dispatcher
from testkit.tokens import TokenIssuer

T0 = datetime(2026, 1, 1, tzinfo=UTC)

ADMIN_TOKEN = "unit-admin-token"
LIMIT = 5
TOKENS = TokenIssuer.create()


@pytest.fixture
def shop() -> InMemoryOrderService:
    shop = InMemoryOrderService()
    mug = inventory.ProductCreated(
        sku="MUG-1",
        version=1,
        name="Mug",
        description="",
        category="k",
        price_cents=1200,
        attributes={},
        stock_on_hand=5,
        stock_reserved=0,
        stock_available=5,
    )
    Dispatcher(shop.unit_of_work, USE_CASES)(Decoded(envelope_for(mug), mug))
    return shop


def client_of(shop: InMemoryOrderService, customer: str | None = "c-1") -> FlaskClient:
    api = build_api(
        shop.unit_of_work,
        lambda: ADMIN_TOKEN,
        CustomerTokenVerifier.from_settings(TOKENS.settings()),
        OrderRateLimit(LIMIT, 100_000_000),
        build_orchestrator(SagaSettings(), shop.unit_of_work).start,
    )
    client = create_service_app(api, {}).test_client()
    authorization = (
        f"Bearer {ADMIN_TOKEN}" if customer is None else TOKENS.headers(customer)["Authorization"]
    )
    client.environ_base["HTTP_AUTHORIZATION"] = authorization
    return client


@pytest.fixture
def client(shop) -> FlaskClient:
    return client_of(shop)


def post(client: FlaskClient, quantity: int = 1, sku: str = "MUG-1", key: str | None = None):
    return client.post(
        "/orders",
        json={"items": [{"sku": sku, "quantity": quantity}], "payment_method": "tok_visa"},
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


def test_an_order_is_accepted_then_the_same_key_and_body_return_it_and_another_body_is_a_409(
    client,
):
    first = post(client, key="k-1")
    again = post(client, key="k-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json == first.json == {"order_id": first.json["order_id"], "status": "PENDING"}
    assert first.headers["Location"] == f"/orders/{first.json['order_id']}"
    conflict = post(client, quantity=2, key="k-1")
    assert conflict.status_code == 409
    assert conflict.mimetype == "application/problem+json"


def test_an_unknown_product_is_a_422_naming_its_position(client):
    response = post(client, sku="NOPE-1")
    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == ["items.0.sku"]


def test_beyond_the_rate_limit_a_customer_gets_a_429_with_retry_after(shop, client):
    assert [post(client).status_code for _ in range(LIMIT)] == [202] * LIMIT
    refused = post(client)
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert int(refused.headers["Retry-After"]) >= 1
    assert f"at most {LIMIT} orders per" in refused.json["detail"]
    assert post(client_of(shop, "c-2")).status_code == 202, "another customer's own limit"


def test_a_refused_order_counts_towards_the_rate_limit(client):
    assert [post(client, sku="NOPE-1").status_code for _ in range(LIMIT)] == [422] * LIMIT
    assert post(client).status_code == 429


def test_an_order_reads_back_priced_with_its_checkout_saga_started_with_it(shop, client):
    order_id = post(client, quantity=2).json["order_id"]
    order = client.get(f"/orders/{order_id}").json
    assert (order["status"], order["total_cents"], order["customer_id"]) == (
        "PENDING",
        2400,
        "c-1",
    )
    saga = order["saga"]
    assert saga["state"] == "RUNNING"
    assert [(s["name"], s["status"]) for s in saga["steps"]] == [("reserve_stock", "STARTED")]
    sent = [e.envelope for e in shop.messages.outbox if e.envelope.aggregate_id == order_id]
    assert [e.type for e in sent] == ["OrderCreated", "ReserveStock"], "in one transaction"
    assert sent[1].correlation_id == saga["saga_id"]


def test_an_order_shows_its_newest_saga_read_from_the_orchestrators_rows(shop, client):
    order_id = post(client).json["order_id"]
    cancellation = orders.OrderCancellationRequested(order_id=order_id)
    with shop.unit_of_work() as uow:
        for definition, trigger in (
            (checkout_saga(), orders.OrderCreated(**created_by(uow, order_id))),
            (cancellation_saga(), cancellation),
        ):
            saga, _ = SagaEngine(definition).start(str(uuid.uuid4()), trigger, T0)
            uow.sagas.add(saga)
        uow.commit()

    shown = client.get(f"/orders/{order_id}").json["saga"]
    assert (shown["saga_id"], shown["state"]) == (saga.saga_id, "RUNNING")
    assert shown["steps"] == [
        {"name": "refund_payment", "status": "STARTED", "at": "2026-01-01T00:00:00Z"}
    ]
    listed = client.get("/orders").json["items"]
    assert [o["saga"]["saga_id"] for o in listed] == [saga.saga_id]


def created_by(uow, order_id: str) -> dict:
    order = services.get_order(uow, order_id)
    return {
        "order_id": order_id,
        "customer_id": order.customer_id,
        "payment_method": order.payment_method,
        "total_cents": order.total_cents,
        "items": [
            {"sku": i.sku, "quantity": i.quantity, "unit_price_cents": i.unit_price_cents}
            for i in order.items
        ],
    }


def test_another_customers_order_is_a_404_and_the_admin_reads_any(shop, client):
    order_id = post(client).json["order_id"]
    assert client_of(shop, "c-2").get(f"/orders/{order_id}").status_code == 404
    assert client_of(shop, "c-2").post(f"/orders/{order_id}/cancel").status_code == 404
    admin = client_of(shop, customer=None)
    assert admin.get(f"/orders/{order_id}").status_code == 200
    assert admin.get("/orders?customer_id=c-1").json["total"] == 1


def test_only_an_approved_order_can_be_cancelled_and_asking_twice_is_the_same(shop, client):
    order_id = post(client).json["order_id"]
    assert client.post(f"/orders/{order_id}/cancel").status_code == 409
    with shop.unit_of_work() as uow:  # the checkout saga's last step
        services.approve_order(uow, orders.ApproveOrder(order_id=order_id))
        uow.commit()
    for _ in range(2):
        response = client.post(f"/orders/{order_id}/cancel")
        assert (response.status_code, response.json["status"]) == (202, "APPROVED")
    types = [e.envelope.type for e in shop.messages.outbox if e.envelope.aggregate_id == order_id]
    assert types == [
        "OrderCreated",
        "ReserveStock",
        "OrderApproved",
        "OrderCancellationRequested",
        "RefundPayment",
    ], "the cancellation saga started once, with the first request"


def test_a_customers_orders_are_listed_newest_first_in_pages(client):
    ids = [post(client, quantity=n).json["order_id"] for n in (1, 2, 3)]
    page = client.get("/orders?page=1&page_size=2").json
    assert ([o["order_id"] for o in page["items"]], page["total"]) == (ids[::-1][:2], 3)
