"""The metrics an operator runs the shop on reach Prometheus: a whole shop (and a search
indexer) exports over OTLP to the local Jaeger, and after real traffic each metric is served at
its Prometheus endpoint under the name and labels the alerting rules and the dashboard use
(infra/prometheus/alerts.yml, infra/grafana/dashboards/eventshop.json). This shop's series are
told apart by their `job` label, "<namespace>/<service>"."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
import requests

from contracts import orders
from eventing import topics
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import envelope_for
from testkit.conditions import wait_for
from testkit.search import Indexer
from testkit.shop import ShopOptions, run_shop
from testkit.storefront import create_product, new_sku, place_order, wait_terminal

pytestmark = pytest.mark.e2e

METRICS_URL = os.environ.get("METRICS_URL", "http://127.0.0.1:8889/metrics")
NAMESPACE = f"metrics-{uuid.uuid4().hex[:8]}"
EXPORTED = {
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    "OTEL_EXPORTER_OTLP_ENDPOINT": os.environ.get("TEST_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
    "OTEL_RESOURCE_ATTRIBUTES": f"service.namespace={NAMESPACE}",
}
#: How long a metric may take to show: an export interval, Jaeger's batch, and a loaded machine.
SHOWS_WITHIN_S = 120


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape() -> Iterator[Sample]:
    """Every labelled sample Prometheus would scrape from the endpoint."""
    for line in requests.get(METRICS_URL, timeout=10).text.splitlines():
        if match := _SAMPLE.match(line):
            name, labels, value = match.groups()
            yield Sample(name, dict(_LABEL.findall(labels)), float(value))


def samples(name: str, service: str, **labels: str) -> list[Sample]:
    """This shop's samples of `name` from `service`, with at least these labels."""
    job = f"{NAMESPACE}/{service}"
    return [
        sample
        for sample in scrape()
        if sample.name == name
        and sample.labels.get("job") == job
        and all(sample.labels.get(k) == v for k, v in labels.items())
    ]


def total(name: str, service: str, **labels: str) -> float:
    """The sum over this shop's processes of `name` with these labels."""
    return sum(sample.value for sample in samples(name, service, **labels))


def wait_total(name: str, service: str, at_least: float = 1, **labels: str) -> float:
    return wait_for(
        lambda: (found := total(name, service, **labels)) >= at_least and found,
        SHOWS_WITHIN_S,
        f"{name}{labels} of {service} at {at_least} or more",
    )


@pytest.fixture(scope="module")
def shop():
    with ExitStack() as stack:
        # Timeouts no loaded machine reaches: every checkout here ends as its payment says.
        options = ShopOptions(reply_timeout_s=60, payment_timeout_s=60, extra_env=EXPORTED)
        yield run_shop(stack, options)


def qualified(shop, name: str) -> str:
    return shop.kafka.qualify(name)


def test_http_requests_are_measured_per_route_method_and_status(shop):
    sku = create_product(shop, stock=1)
    assert requests.get(f"{shop.inventory_url}/products/{sku}", timeout=10).status_code == 200
    missing = requests.get(f"{shop.inventory_url}/products/{new_sku()}", timeout=10)
    assert missing.status_code == 404

    route = {"http_route": "/products/<sku>", "http_request_method": "GET"}
    for status in ("200", "404"):
        wait_total(
            "http_server_request_duration_seconds_count",
            "inventory-service",
            http_response_status_code=status,
            **route,
        )
    [bucket, *_] = samples(
        "http_server_request_duration_seconds_bucket", "inventory-service", **route
    )
    assert "le" in bucket.labels


def test_a_checkout_is_measured_from_order_to_approval_and_by_saga_outcome(shop):
    sku = create_product(shop, stock=5)
    approved, declined = (
        place_order(shop, [(sku, 1)], payment_method=method)
        for method in ("tok_visa", "tok_declined")
    )
    ended = wait_terminal(shop, [approved, declined])
    assert (ended[approved]["status"], ended[declined]["status"]) == ("APPROVED", "REJECTED")

    wait_total("checkout_time_to_approved_seconds_count", "checkout-saga")
    for outcome in ("COMPLETED", "ABORTED"):
        wait_total(
            "saga_duration_seconds_count",
            "checkout-saga",
            saga_type="checkout",
            saga_state=outcome,
        )
    wait_total("saga_ended_total", "checkout-saga", saga_type="checkout", saga_state="COMPLETED")
    in_flight = {
        sample.labels["saga_state"]
        for sample in wait_for(
            lambda: samples("saga_active", "checkout-saga", saga_type="checkout"),
            SHOWS_WITHIN_S,
            "sagas in flight",
        )
    }
    assert in_flight == {"RUNNING", "COMPENSATING", "ABORTING", "COMPENSATION_FAILED"}


@pytest.mark.parametrize(
    "service, group, topic",
    [
        ("order-service", "order-service", topics.PRODUCTS),
        ("inventory-service", "inventory-service", topics.INVENTORY_COMMANDS),
        ("payment-service", "payment-service", topics.PAYMENT_COMMANDS),
        ("checkout-saga", "checkout-saga", topics.PAYMENTS),
    ],
)
def test_every_worker_reports_its_consumption_lag_and_outbox(shop, service, group, topic):
    """After a checkout, each worker has applied messages, its group has committed offsets
    (so it has a lag per partition), and its outbox has a backlog and an oldest age."""
    sku = create_product(shop, stock=1)
    wait_terminal(shop, [place_order(shop, [(sku, 1)])])
    consumer = {
        "messaging_system": "kafka",
        "messaging_consumer_group_name": qualified(shop, group),
        "messaging_destination_name": qualified(shop, topic),
    }
    wait_total("consumer_messages_processed_total", service, **consumer)
    lags = wait_for(
        lambda: samples("kafka_consumer_group_lag", service, **consumer),
        SHOWS_WITHIN_S,
        f"the lag of {group} on {topic}",
    )
    assert all("messaging_destination_partition_id" in lag.labels for lag in lags)
    assert all(lag.value >= 0 for lag in lags)
    for gauge in ("outbox_backlog", "outbox_oldest_unpublished_age_seconds"):
        wait_for(lambda g=gauge: samples(g, service), SHOWS_WITHIN_S, f"{gauge} of {service}")


def test_a_command_that_keeps_failing_is_retried_then_dead_lettered_and_counted(shop):
    """An ApproveOrder for an order the service does not know fails every attempt: it is
    retried with backoff, then sent to the dead-letter topic, and both are counted."""
    command = orders.ApproveOrder(order_id=f"no-such-order-{uuid.uuid4().hex[:8]}")
    KafkaPublisher(shop.kafka).publish(
        [
            OutgoingMessage(
                qualified(shop, topics.ORDER_COMMANDS),
                command.order_id.encode(),
                envelope_for(command).to_bytes(),
            )
        ]
    )
    consumer = {
        "messaging_consumer_group_name": qualified(shop, "order-service"),
        "messaging_destination_name": qualified(shop, topics.ORDER_COMMANDS),
    }
    wait_total("consumer_messages_dead_lettered_total", "order-service", **consumer)
    # Attempts 1 to 4 of the consumer's 5 are retried; the fifth gives up.
    assert total("consumer_messages_retried_total", "order-service", **consumer) >= 4


def test_a_product_change_is_measured_until_it_is_in_the_search_index(shop):
    indexer = Indexer(kafka=shop.kafka, extra_env=EXPORTED)
    indexer.start()
    try:
        create_product(shop, stock=3)
        wait_total("search_indexing_lag_seconds_count", "search-indexer")
        wait_total(
            "consumer_messages_processed_total",
            "search-indexer",
            messaging_destination_name=qualified(shop, topics.PRODUCTS),
        )
    finally:
        indexer.close()
