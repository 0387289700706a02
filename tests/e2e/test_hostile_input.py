"""Bad input is a 4xx problem+json from every API as gunicorn serves it, never a 5xx, and a
refused request leaves nothing behind: the cases found by hand and by a fuzzer, one test each,
then schemathesis itself (every check, a fixed seed) against all four running APIs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from servicekit.fields import MAX_ATTRIBUTES_BYTES
from testkit.shop import ADMIN, REPO, Shop, ShopOptions, run_shop

# The first test also waits for the shop to start, the fuzzing tests take minutes each.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

TIMEOUT_S = 120
"""For one request: generous, since the machine may be busy with other test runs."""
SCHEMATHESIS_SEED = 14
SCHEMATHESIS_EXAMPLES = 25
"""Per operation and phase: enough to find what the issue's fuzzing found, a few minutes in all."""


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    with ExitStack() as stack:
        # Generous: on a loaded 2-core machine the APIs have needed over three minutes.
        yield run_shop(stack, ShopOptions(search_api=True, ready_timeout_s=600))


def problem(response: requests.Response, status: int) -> dict:
    """The response is a problem document of this status; returns it."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"] == "application/problem+json", response.text[:500]
    document = response.json()
    assert document["status"] == status
    return document


def field_errors(response: requests.Response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in problem(response, 422)["errors"]}


def post_json_text(url: str, text: str, **headers: str) -> requests.Response:
    """POST a body exactly as written (JSON escapes such as \\u0000 included)."""
    return requests.post(
        url,
        data=text.encode(),
        headers={"Content-Type": "application/json", **ADMIN, **headers},
        timeout=TIMEOUT_S,
    )


def order_text(**fields: str) -> str:
    body = {"customer_id": "c-1", "payment_method": "tok_visa"} | fields
    items = '[{"sku": "NUL-1", "quantity": 1}]'
    return "{" + ", ".join(f'"{k}": "{v}"' for k, v in body.items()) + f', "items": {items}' + "}"


def product_body(sku: str, **overrides) -> dict:
    return {
        "sku": sku,
        "name": "Mug",
        "description": "",
        "category": "kitchen",
        "price_cents": 100,
        "stock": 1,
        "attributes": {},
    } | overrides


def assert_no_product(shop: Shop, sku: str) -> None:
    problem(requests.get(f"{shop.inventory_url}/products/{sku}", timeout=TIMEOUT_S), 404)


def new_sku() -> str:
    return f"H-{uuid.uuid4().hex[:10]}"


class TestUnstorableText:
    """PostgreSQL stores no NUL, UTF-8 has no lone surrogate: both are refused on the way in."""

    @pytest.mark.parametrize("field", ["customer_id", "payment_method"])
    def test_a_nul_in_an_order_field_is_a_422_naming_it(self, shop, field):
        response = post_json_text(
            f"{shop.order_url}/orders",
            order_text(**{field: "a\\u0000b"}),
            **{"Idempotency-Key": "nul", **shop.customer_headers("c-1")},
        )
        assert field_errors(response) == {field: "text cannot contain the NUL character"}
        listed = requests.get(
            f"{shop.order_url}/orders", headers=shop.customer_headers("c-1"), timeout=TIMEOUT_S
        )
        assert listed.json()["total"] == 0

    def test_a_nul_in_the_customer_query_is_a_422(self, shop):
        response = requests.get(
            f"{shop.order_url}/orders?customer_id=a%00b",
            headers=shop.customer_headers("c-1"),
            timeout=TIMEOUT_S,
        )
        assert set(field_errors(response)) == {"query.customer_id"}

    def test_a_nul_in_an_order_id_names_no_order(self, shop):
        response = requests.get(
            f"{shop.order_url}/orders/a%00b", headers=shop.customer_headers(), timeout=TIMEOUT_S
        )
        problem(response, 404)

    def test_a_nul_in_the_payments_query_is_a_422(self, shop):
        response = requests.get(
            f"{shop.payment_url}/payments?order_id=a%00b",
            headers=shop.customer_headers(),
            timeout=TIMEOUT_S,
        )
        assert set(field_errors(response)) == {"query.order_id"}

    def test_a_lone_surrogate_in_a_product_name_is_a_422(self, shop):
        sku = new_sku()
        text = json.dumps(product_body(sku, name="PLACEHOLDER")).replace("PLACEHOLDER", "\\udfff")
        response = post_json_text(f"{shop.inventory_url}/products", text)
        assert "surrogate" in field_errors(response)["name"]
        assert_no_product(shop, sku)


class TestDeepJson:
    @pytest.mark.parametrize("depth", [1_000, 100_000])
    @pytest.mark.parametrize("where", ["body", "attributes"])
    def test_json_nested_thousands_of_levels_deep_is_a_422(self, shop, depth, where):
        sku = new_sku()
        nested = "[" * depth + "]" * depth
        text = (
            nested
            if where == "body"
            else json.dumps(product_body(sku, attributes="PLACEHOLDER")).replace(
                '"PLACEHOLDER"', '{"k": ' + nested + "}"
            )
        )
        response = post_json_text(f"{shop.inventory_url}/products", text)
        assert "nested" in " ".join(field_errors(response).values())
        assert_no_product(shop, sku)


class TestSearchBounds:
    def test_a_page_beyond_elasticsearchs_result_window_is_a_422_saying_so(self, shop):
        response = requests.get(
            f"{shop.search_url}/search?page=1000&page_size=100", timeout=TIMEOUT_S
        )
        assert "10000 hits" in field_errors(response)["query"]

    def test_the_last_page_within_the_window_is_served(self, shop):
        response = requests.get(
            f"{shop.search_url}/search?page=100&page_size=100", timeout=TIMEOUT_S
        )
        assert response.status_code == 200, response.text
        assert response.json()["items"] == []

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("page=1099511627776", "query.page"),
            ("min_price_cents=1180591620717411303424", "query.min_price_cents"),
        ],
    )
    def test_integers_beyond_their_range_are_a_422(self, shop, query, field):
        response = requests.get(f"{shop.search_url}/search?{query}", timeout=TIMEOUT_S)
        assert set(field_errors(response)) == {field}

    def test_a_q_too_long_for_the_model_is_a_422_naming_it(self, shop):
        response = requests.get(f"{shop.search_url}/search?q={'a' * 5_000}", timeout=TIMEOUT_S)
        assert set(field_errors(response)) == {"query.q"}

    def test_a_q_too_long_for_a_request_line_is_a_414_problem(self, shop):
        response = requests.get(f"{shop.search_url}/search?q={'a' * 10_000}", timeout=TIMEOUT_S)
        assert "Request Line is too large" in problem(response, 414)["detail"]


class TestWhatGunicornRefuses:
    """Requests refused before the app sees them are problem documents too."""

    def test_headers_too_large_are_a_431_problem(self, shop):
        response = requests.get(
            f"{shop.search_url}/search", headers={"X-Padding": "a" * 10_000}, timeout=TIMEOUT_S
        )
        problem(response, 431)

    def test_a_malformed_request_line_is_a_400_problem(self, shop):
        address = urlsplit(shop.order_url)
        with socket.create_connection((address.hostname, address.port), timeout=TIMEOUT_S) as sock:
            sock.sendall(b"NOT A REQUEST LINE\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), head
        assert b"Content-Type: application/problem+json" in head
        assert json.loads(body)["status"] == 400


@pytest.mark.parametrize(
    ("service", "path", "allowed"),
    [
        ("order_service", "/orders", {"GET", "POST"}),
        ("inventory_service", "/products/MUG-1", {"GET", "PATCH", "DELETE"}),
        ("payment_service", "/payments", {"GET"}),
        ("search_indexer", "/search", {"GET"}),
    ],
)
def test_a_405_names_the_allowed_methods(shop, service, path, allowed):
    response = requests.put(f"{shop.urls[service]}{path}", timeout=TIMEOUT_S)
    problem(response, 405)
    assert allowed <= set(response.headers["Allow"].split(", "))


class TestSizeLimits:
    def test_a_20_mb_attributes_object_is_a_413_and_nothing_is_stored(self, shop):
        sku = new_sku()
        body = product_body(sku, attributes={"blob": "x" * 20_000_000})
        response = requests.post(
            f"{shop.inventory_url}/products", json=body, headers=ADMIN, timeout=TIMEOUT_S
        )
        problem(response, 413)
        assert_no_product(shop, sku)

    def test_attributes_over_their_limit_within_a_small_body_are_a_422(self, shop):
        sku = new_sku()
        body = product_body(sku, attributes={"blob": "x" * (MAX_ATTRIBUTES_BYTES + 1)})
        response = requests.post(
            f"{shop.inventory_url}/products", json=body, headers=ADMIN, timeout=TIMEOUT_S
        )
        assert "bytes" in field_errors(response)["attributes"]
        assert_no_product(shop, sku)

    def test_attributes_at_their_limit_are_stored(self, shop):
        sku = new_sku()
        blob = "x" * (MAX_ATTRIBUTES_BYTES - len('{"blob":""}'))
        body = product_body(sku, attributes={"blob": blob})
        response = requests.post(
            f"{shop.inventory_url}/products", json=body, headers=ADMIN, timeout=TIMEOUT_S
        )
        assert response.status_code == 201, response.text[:500]
        stored = requests.get(f"{shop.inventory_url}/products/{sku}", timeout=TIMEOUT_S).json()
        assert stored["attributes"] == {"blob": blob}


def authorization(shop: Shop, service: str) -> str:
    """What the fuzzer sends: a customer token to the APIs that serve customers (whose writes
    need one), the admin token to the others."""
    if service in ("order_service", "payment_service"):
        return shop.customer_headers("fuzz-customer")["Authorization"]
    return ADMIN["Authorization"]


@pytest.mark.parametrize(
    "service", ["inventory_service", "payment_service", "order_service", "search_indexer"]
)
def test_schemathesis_finds_nothing(shop, service, tmp_path):
    """Every check on (a 5xx, an undocumented status or header, a response off its schema,
    invalid data accepted, valid data refused, a 405 without Allow...), in every phase."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(REPO / "tests" / "e2e" / "schemathesis.toml"),
        "--no-color",
        "run",
        f"{shop.urls[service]}/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(SCHEMATHESIS_SEED),
        "--max-examples",
        str(SCHEMATHESIS_EXAMPLES),
        "--workers",
        "1",
        "--request-timeout",
        str(TIMEOUT_S),
        # Hypothesis's too_slow check measures generation time, which a loaded machine inflates.
        "--suppress-health-check",
        "too_slow",
        "--generation-database",
        "none",
        "--header",
        f"Authorization: {authorization(shop, service)}",
    ]
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False
    )
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
