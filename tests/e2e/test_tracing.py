"""One checkout is one trace in Jaeger: from the POST /orders span through every Kafka hop and
saga step, compensations included, with every span parented inside the trace. A product change
is traced into the search index: the indexer's batched write shows in the change's own trace
and links to the batch's trace, where the Elasticsearch requests are."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from testkit.search import Indexer
from testkit.shop import ShopOptions, run_shop
from testkit.storefront import create_product, new_sku, wait_terminal

pytestmark = pytest.mark.e2e
JAEGER = os.environ.get("JAEGER_QUERY_URL", "http://127.0.0.1:16686")
OTLP = os.environ.get("TEST_OTLP_ENDPOINT", "http://127.0.0.1:4317")
CHECKOUT_SERVICES = {"order-service", "checkout-saga", "inventory-service", "payment-service"}


TRACED = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP,
    "OTEL_BSP_SCHEDULE_DELAY": "200",
}


@pytest.fixture(scope="module")
def shop():
    with ExitStack() as stack:
        # Timeouts no loaded machine reaches: every checkout here is answered.
        options = ShopOptions(reply_timeout_s=60, payment_timeout_s=60, extra_env=TRACED)
        yield run_shop(stack, options)


@pytest.fixture
def indexer(shop):
    """The search indexer on the shop's topics, exporting its spans too."""
    indexer = Indexer(kafka=shop.kafka, extra_env=TRACED)
    indexer.start()
    yield indexer
    indexer.close()


def checkout(shop, sku: str, payment_method: str) -> tuple[dict, str]:
    """Place an order (once the catalogue knows the sku); return the outcome and its trace id."""
    body = {
        "customer_id": "trace-test",
        "payment_method": payment_method,
        "items": [{"sku": sku, "quantity": 1}],
    }
    deadline = time.monotonic() + 60
    while True:  # a new key each time: only the accepted request's trace matters
        response = requests.post(
            f"{shop.order_url}/orders",
            json=body,
            timeout=10,
            headers={
                "Idempotency-Key": f"trace-{time.monotonic_ns()}",
                **shop.customer_headers("trace-test"),
            },
        )
        if response.status_code == 202:
            break
        assert response.status_code == 422 and time.monotonic() < deadline, response.text
        time.sleep(0.2)
    trace_id = response.headers["traceparent"].split("-")[1]
    order_id = response.json()["order_id"]
    return wait_terminal(shop, [order_id])[order_id], trace_id


def fetch_trace(
    trace_id: str,
    must_have: set[str],
    complete: Callable[[dict], bool] = lambda trace: True,
    timeout_s: float = 90.0,
) -> dict:
    """The trace from Jaeger's query API, once spans of every wanted service arrived and it is
    `complete`: each process exports its spans in batches, so a trace fills in over time (and
    a child can arrive before its parent from another process)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = requests.get(f"{JAEGER}/api/traces/{trace_id}", timeout=10)
        if response.ok and response.json().get("data"):
            trace = response.json()["data"][0]
            services = {p["serviceName"] for p in trace["processes"].values()}
            if must_have <= services and complete(trace):
                return trace
        assert time.monotonic() < deadline, f"trace {trace_id} incomplete: {response.text[:300]}"
        time.sleep(0.5)


def roots(trace: dict) -> list[dict]:
    ids = {span["spanID"] for span in trace["spans"]}
    return [
        span
        for span in trace["spans"]
        if not any(
            ref["refType"] == "CHILD_OF" and ref["spanID"] in ids
            for ref in span.get("references", [])
        )
    ]


def services_of(trace: dict) -> set[str]:
    return {trace["processes"][span["processID"]]["serviceName"] for span in trace["spans"]}


def saga_steps(trace: dict) -> set[str]:
    return {
        tag["value"] for span in trace["spans"] for tag in span["tags"] if tag["key"] == "saga.step"
    }


def consumed_types(trace: dict) -> set[str]:
    return {
        tag["value"]
        for span in trace["spans"]
        for tag in span["tags"]
        if tag["key"] == "event.type"
    }


def test_an_approved_checkout_is_one_trace_across_every_service(shop):
    outcome, trace_id = checkout(shop, create_product(shop, stock=3), "tok_visa")
    assert outcome["status"] == "APPROVED"
    trace = fetch_trace(
        trace_id,
        CHECKOUT_SERVICES,
        lambda t: "approve_order" in saga_steps(t) and len(roots(t)) == 1,
    )
    assert services_of(trace) >= CHECKOUT_SERVICES
    [root] = roots(trace)
    assert trace["processes"][root["processID"]]["serviceName"] == "order-service"
    assert root["operationName"].startswith("POST")
    names = {span["operationName"] for span in trace["spans"]}
    assert any(name.endswith("publish") for name in names)
    assert any(name.endswith("process") for name in names)
    assert {"reserve_stock", "authorize_payment", "approve_order"} <= saga_steps(trace)
    saga_tags = [
        {tag["key"]: tag["value"] for tag in span["tags"]}
        for span in trace["spans"]
        if span["operationName"].startswith("saga ")
    ]
    assert all(tags["order.id"] == outcome["order_id"] for tags in saga_tags)
    assert {"STARTED", "SUCCEEDED"} <= {tags.get("saga.outcome") for tags in saga_tags}


def test_a_declined_checkout_shows_the_compensation_in_its_trace(shop):
    outcome, trace_id = checkout(shop, create_product(shop, stock=3), "tok_declined")
    assert (outcome["status"], outcome["rejection_reason"]) == ("REJECTED", "PAYMENT_DECLINED")
    compensated = {"ReleaseStock", "StockReleased"}
    trace = fetch_trace(
        trace_id,
        CHECKOUT_SERVICES,
        lambda t: compensated <= consumed_types(t) and len(roots(t)) == 1,
    )
    assert len(roots(trace)) == 1, "no orphan roots"


def tags_of(span: dict) -> dict:
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def test_a_product_change_is_traced_into_the_search_index(shop, indexer):
    sku = new_sku()
    response = shop.post_product(sku, stock=2)
    assert response.status_code == 201, response.text
    trace_id = response.headers["traceparent"].split("-")[1]
    indexer.wait_for(lambda: sku in indexer.index.all_documents(), "indexed")

    trace = fetch_trace(trace_id, {"inventory-service", "search-indexer"})
    assert len(roots(trace)) == 1, "the indexer's span is parented inside the change's trace"
    [indexed] = [
        span
        for span in trace["spans"]
        if trace["processes"][span["processID"]]["serviceName"] == "search-indexer"
    ]
    assert indexed["operationName"].endswith("process")
    assert tags_of(indexed)["messaging.kafka.message.key"] == sku
    [batch_link] = [ref for ref in indexed["references"] if ref["refType"] == "FOLLOWS_FROM"]

    def written_under(batch_trace: dict) -> list[dict]:
        return [
            span
            for span in batch_trace["spans"]
            if tags_of(span).get("db.system") == "elasticsearch"
            and any(ref["spanID"] == batch_link["spanID"] for ref in span["references"])
        ]

    def batch_written(batch_trace: dict) -> bool:
        spans = {span["spanID"] for span in batch_trace["spans"]}
        return batch_link["spanID"] in spans and bool(written_under(batch_trace))

    batch_trace = fetch_trace(batch_link["traceID"], {"search-indexer"}, batch_written)
    [batch] = [s for s in batch_trace["spans"] if s["spanID"] == batch_link["spanID"]]
    assert tags_of(batch)["messaging.batch.message_count"] >= 1
    assert any(
        ref["refType"] == "FOLLOWS_FROM" and ref["traceID"] == trace_id
        for ref in batch["references"]
    ), "the batch links to every event's trace"
    assert written_under(batch_trace), "the Elasticsearch requests are children of the batch span"


def test_every_process_logs_one_json_object_per_line_naming_its_service(shop, indexer):
    outcome, _ = checkout(shop, create_product(shop, stock=1), "tok_visa")
    assert outcome["status"] == "APPROVED"
    indexer.wait_for(lambda: indexer.index.all_documents(), "indexed")
    logs = [*sorted(shop.logs.glob("*.log")), indexer.log]
    services = set()
    for path in logs:
        lines = path.read_text().splitlines()
        assert lines, f"{path.name} is empty"
        for line in lines:
            entry = json.loads(line)  # raises on the first line that is not JSON
            assert {"time", "level", "logger", "message", "trace_id", "span_id"} <= entry.keys()
            services.add(entry["service"])
    assert services >= CHECKOUT_SERVICES | {"search-indexer"}
    api_log = (shop.logs / "order_service-api.log").read_text()
    assert '"logger": "gunicorn.access"' in api_log and "POST /orders" in api_log


def complete_lines(path: Path) -> list[str]:
    """The lines of a log another process is writing, leaving out one it has not finished."""
    text = path.read_text()
    return text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]


def test_a_requests_access_line_carries_the_trace_of_its_response(shop):
    response = requests.get(
        f"{shop.order_url}/orders/{new_sku()}", headers=shop.customer_headers(), timeout=10
    )
    assert response.status_code == 404
    _, trace_id, span_id, _ = response.headers["traceparent"].split("-")
    access_lines = []
    deadline = time.monotonic() + 60
    while not access_lines and time.monotonic() < deadline:
        entries = map(json.loads, complete_lines(shop.logs / "order_service-api.log"))
        access_lines = [
            e for e in entries if e["logger"] == "gunicorn.access" and e["trace_id"] == trace_id
        ]
        time.sleep(0.1)
    assert len(access_lines) == 1, "one access line names the request's trace"
    assert access_lines[0]["span_id"] == span_id
    assert f"GET /orders/{response.url.rsplit('/', 1)[1]}" in access_lines[0]["message"]
