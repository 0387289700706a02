"""Who may use the order routes and the payment reads (the contract's Customers section), on
the real PostgreSQL and Kafka: every route with no token, a bad one (expired, signed by
another key, `alg: none`), another customer's, the owner's, and the admin token."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts import inventory
from contracts import payment as payment_messages
from eventing.registry import Decoded, envelope_for
from order_service.config import Settings as OrderSettings
from order_service.deployable import DEPLOYABLE as ORDERS
from payment_service.config import Settings as PaymentSettings
from payment_service.deployable import DEPLOYABLE as PAYMENT
from servicekit.migrations import upgrade
from testkit.scratch import scratch_database
from testkit.tokens import TokenIssuer, bearer

pytestmark = pytest.mark.integration

OWNER, STRANGER, ADMIN_TOKEN = "c-owner", "c-stranger", "access-test-admin"


def _unsigned(customer_id: str) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    exp = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    claims = {"sub": customer_id, "iss": "eventshop-test", "aud": "eventshop", "exp": exp}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.fixture(scope="module")
def bad_tokens(customer_tokens, tmp_path_factory) -> dict[str, dict[str, str] | None]:
    """Each way a request can carry no valid customer token, all for the owner."""
    stranger_key = TokenIssuer.create(tmp_path_factory.mktemp("another-key"))
    return {
        "no token": None,
        "expired": customer_tokens.headers(OWNER, exp=datetime.now(UTC) - timedelta(hours=1)),
        "another key": stranger_key.headers(OWNER),
        "alg none": bearer(_unsigned(OWNER)),
        "not a JWT": bearer("opaque-guess"),
    }


def _built(bootstrap, settings_class, migrations: str, url: str, shop_topics, tokens):
    upgrade(Path(migrations), url)
    settings = settings_class(
        database_url=url, admin_token=ADMIN_TOKEN, customer_tokens=tokens.settings()
    )
    return bootstrap(settings, shop_topics)


@pytest.fixture(scope="module")
def shop(shop_topics, customer_tokens):
    """The order and payment APIs (test clients) with one order of OWNER's and its payment."""
    with scratch_database() as orders_db, scratch_database() as payments_db:
        orders = _built(
            ORDERS.runtime,
            OrderSettings,
            "order_service/migrations",
            orders_db.url.render_as_string(hide_password=False),
            shop_topics,
            customer_tokens,
        )
        payments = _built(
            PAYMENT.runtime,
            PaymentSettings,
            "payment_service/migrations",
            payments_db.url.render_as_string(hide_password=False),
            shop_topics,
            customer_tokens,
        )
        product = inventory.ProductCreated(
            sku="ACCESS-1",
            version=1,
            name="Mug",
            description="",
            category="k",
            price_cents=500,
            attributes={},
            stock_on_hand=9,
            stock_reserved=0,
            stock_available=9,
        )
        orders.dispatcher(Decoded(envelope_for(product), product))
        order_client, payment_client = orders.flask_app().test_client(), payments.flask_app()
        placed = order_client.post(
            "/orders",
            json={"items": [{"sku": "ACCESS-1", "quantity": 1}], "payment_method": "tok_visa"},
            headers={"Idempotency-Key": "access-1", **customer_tokens.headers(OWNER)},
        )
        assert placed.status_code == 202, placed.json
        order_id = placed.json["order_id"]
        authorize = payment_messages.AuthorizePayment(
            order_id=order_id, customer_id=OWNER, amount_cents=500, payment_method="tok_visa"
        )
        payments.dispatcher(Decoded(envelope_for(authorize), authorize))
        yield {
            "order_id": order_id,
            "orders": order_client,
            "payments": payment_client.test_client(),
        }
        orders.engine.dispose()
        payments.engine.dispose()


def _routes(order_id: str) -> dict[str, tuple[str, str, str, dict | None]]:
    """route -> (service, method, path, body)."""
    new_order = {"items": [{"sku": "ACCESS-1", "quantity": 1}], "payment_method": "tok_visa"}
    return {
        "POST /orders": ("orders", "POST", "/orders", new_order | {"customer_id": OWNER}),
        "GET /orders/{id}": ("orders", "GET", f"/orders/{order_id}", None),
        "GET /orders": ("orders", "GET", f"/orders?customer_id={OWNER}", None),
        "POST /orders/{id}/cancel": ("orders", "POST", f"/orders/{order_id}/cancel", None),
        "GET /payments": ("payments", "GET", f"/payments?order_id={order_id}", None),
    }


ROUTES = list(_routes("ID"))


def _call(shop, route: str, headers: dict[str, str] | None):
    service, method, path, body = _routes(shop["order_id"])[route]
    headers = {"Idempotency-Key": str(uuid.uuid4()), **(headers or {})}
    return shop[service].open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("token", ["no token", "expired", "another key", "alg none", "not a JWT"])
def test_without_a_valid_customer_token_every_route_is_a_401_challenge(
    shop, bad_tokens, route, token
):
    response = _call(shop, route, bad_tokens[token])
    assert response.status_code == 401, response.json
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="customer"')


#: What another customer's valid token gets: nothing that says the order exists.
STRANGER_SEES = {
    "POST /orders": 403,  # the body names OWNER, the token is STRANGER's
    "GET /orders/{id}": 404,
    "GET /orders": 403,  # customer_id=OWNER is not the token's sub
    "POST /orders/{id}/cancel": 404,
    "GET /payments": 200,  # and no payments listed
}
#: The owner: everything (a cancel reaches the order's rules: a PENDING order is a 409).
OWNER_SEES = {
    "POST /orders": 202,
    "GET /orders/{id}": 200,
    "GET /orders": 200,
    "POST /orders/{id}/cancel": 409,
    "GET /payments": 200,
}
#: The admin token reads every order and payment and acts for no customer.
ADMIN_SEES = {
    "POST /orders": 403,
    "GET /orders/{id}": 200,
    "GET /orders": 200,
    "POST /orders/{id}/cancel": 403,
    "GET /payments": 200,
}


@pytest.mark.parametrize("route", ROUTES)
def test_another_customers_token_sees_nothing_of_the_owners(shop, customer_tokens, route):
    response = _call(shop, route, customer_tokens.headers(STRANGER))
    assert response.status_code == STRANGER_SEES[route], response.json
    if route == "GET /payments":
        assert response.json == {"items": []}
    if response.status_code >= 400:
        assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("route", ROUTES)
def test_the_owners_token_sees_and_acts_on_the_owners_order(shop, customer_tokens, route):
    response = _call(shop, route, customer_tokens.headers(OWNER))
    assert response.status_code == OWNER_SEES[route], response.json
    if route == "GET /payments":
        assert [p["order_id"] for p in response.json["items"]] == [shop["order_id"]]


@pytest.mark.parametrize("route", ROUTES)
def test_the_admin_token_reads_everything_and_acts_for_no_one(shop, route):
    response = _call(shop, route, bearer(ADMIN_TOKEN))
    assert response.status_code == ADMIN_SEES[route], response.json
    if route == "GET /payments":
        assert len(response.json["items"]) == 1


def test_a_customer_may_leave_customer_id_out_and_lists_only_their_own(shop, customer_tokens):
    placed = shop["orders"].post(
        "/orders",
        json={"items": [{"sku": "ACCESS-1", "quantity": 2}], "payment_method": "tok_visa"},
        headers={"Idempotency-Key": str(uuid.uuid4()), **customer_tokens.headers(STRANGER)},
    )
    assert placed.status_code == 202, placed.json
    mine = shop["orders"].get("/orders", headers=customer_tokens.headers(STRANGER)).json
    assert [o["order_id"] for o in mine["items"]] == [placed.json["order_id"]]
    assert mine["items"][0]["customer_id"] == STRANGER


def test_a_payment_by_id_is_the_owners_and_the_admins_only(shop, customer_tokens):
    order_id = shop["order_id"]
    owner = customer_tokens.headers(OWNER)
    [payment] = shop["payments"].get(f"/payments?order_id={order_id}", headers=owner).json["items"]
    path = f"/payments/{payment['payment_id']}"
    assert shop["payments"].get(path, headers=owner).status_code == 200
    assert shop["payments"].get(path, headers=bearer(ADMIN_TOKEN)).status_code == 200
    stranger = customer_tokens.headers(STRANGER)
    assert shop["payments"].get(path, headers=stranger).status_code == 404
    assert shop["payments"].get(path).status_code == 401


def test_the_admin_lists_a_customers_orders_only_when_told_whose(shop):
    response = shop["orders"].get("/orders", headers=bearer(ADMIN_TOKEN))
    assert response.status_code == 422
    assert response.json["errors"] == [{"field": "query.customer_id", "message": "Field required"}]


@pytest.mark.parametrize("service", ["orders", "payments"])
def test_each_customer_route_documents_its_security_and_401_403(shop, service):
    document = shop[service].get("/openapi.json").json
    schemes = document["components"]["securitySchemes"]
    assert schemes["customerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "a signed customer token: its sub is the customer id",
    }
    operations = [
        operation
        for path, item in document["paths"].items()
        if path.startswith(("/orders", "/payments"))
        for operation in item.values()
    ]
    assert operations
    for operation in operations:
        assert operation["security"] == [{"customerToken": []}, {"adminToken": []}]
        assert {"401", "403"} <= set(operation["responses"])
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
