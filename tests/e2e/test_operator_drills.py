"""Operator drills on the running shop, with the real `shopctl`."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from contextlib import ExitStack

import pytest
import requests

from testkit.cli import run_shopctl
from testkit.conditions import wait_for
from testkit.shop import REPO, ShopOptions, run_shop
from testkit.storefront import (
    assert_invariants,
    create_product,
    order,
    place_order,
    product,
    wait_terminal,
)

pytestmark = pytest.mark.e2e


#: Prometheus' view of the metrics the shop's processes export over OTLP (the local Jaeger).
METRICS_URL = os.environ.get("METRICS_URL", "http://127.0.0.1:8889/metrics")
#: This module's shop, as the `job` label of its metrics tells it apart: "<namespace>/<service>".
METRICS_NAMESPACE = f"drill-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def shop():
    options = ShopOptions(
        # Generous for a loaded machine: a reservation must be answered in time (the drill
        # parks the release, not the reservation), and the drill stops the inventory worker
        # while the payment is unanswered, well before the stock could be released.
        reply_timeout_s=5,
        payment_timeout_s=20,
        retry_base_delay_s=0.2,
        extra_env={
            "SAGAS_MAX_COMPENSATION_ATTEMPTS": "2",
            # The drill parks a release; one payment attempt keeps its clock as it was designed.
            "SAGAS_STEP_ATTEMPTS": "1",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "OTEL_RESOURCE_ATTRIBUTES": f"service.namespace={METRICS_NAMESPACE}",
        },
    )
    with ExitStack() as stack:
        yield run_shop(stack, options)


def shopctl(shop, *args: str) -> subprocess.CompletedProcess:
    return run_shopctl(*args, env=shop.env, timeout_s=60)


def compensation_failures_counted() -> float:
    """saga.compensation_failed of this shop's orchestrator, as Prometheus scrapes it."""
    job = f'job="{METRICS_NAMESPACE}/checkout-saga"'
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in requests.get(METRICS_URL, timeout=5).text.splitlines()
        if line.startswith("saga_compensation_failed_total{") and job in line
    )


def steps_of(shop, order_id: str, step: str) -> list[str]:
    """The statuses the order's saga view shows for one step, in order."""
    return [s["status"] for s in order(shop, order_id)["saga"]["steps"] if s["name"] == step]


def test_a_saga_stuck_while_a_service_was_down_is_finished_by_shopctl_retry(shop):
    """Two checkouts park while the inventory worker is down: releasing their stock goes
    unanswered. The operator retries one of them while the service is still down; once the
    worker is back (however long it takes to join its group), the answers to the releases
    finish both, the retried one and the other, which nobody touched."""
    sku = create_product(shop, stock=5)
    retried_order, untouched_order = (
        place_order(shop, [(sku, 2)], payment_method="tok_timeout") for _ in range(2)
    )
    wait_for(
        lambda: all(
            steps_of(shop, o, "authorize_payment") for o in (retried_order, untouched_order)
        ),
        60,
        "the sagas did not reach the payment step",
    )
    # Stock is held and the payment is unanswered for SAGAS_PAYMENT_TIMEOUT_S: the worker is
    # stopped well before the sagas can ask it to release the stock.
    shop.stop("inventory_service:worker")
    try:
        for order_id in (retried_order, untouched_order):
            wait_for(
                lambda o=order_id: order(shop, o)["saga"]["state"] == "COMPENSATION_FAILED",
                120,
                "the release was not parked",
            )
        listed = shopctl(shop, "sagas", "list", "--state", "COMPENSATION_FAILED")
        assert listed.returncode == 0, listed.stderr
        assert retried_order in listed.stdout and untouched_order in listed.stdout
        assert product(shop, sku)["stock_reserved"] == 4, "still held: nothing half-undone"
        wait_for(lambda: compensation_failures_counted() == 2, 60, "the metric did not count it")

        saga_id = order(shop, retried_order)["saga"]["saga_id"]
        retried = shopctl(shop, "sagas", "retry", saga_id)
        assert retried.returncode == 0, retried.stderr
    finally:
        shop.start("inventory_service:worker")

    ended = wait_terminal(shop, [retried_order, untouched_order], timeout_s=120)
    for current in ended.values():
        assert (current["status"], current["rejection_reason"]) == ("REJECTED", "TIMEOUT")
        assert current["saga"]["state"] == "ABORTED"
    assert product(shop, sku)["stock_reserved"] == 0
    assert_invariants(shop, ended)
    shown = shopctl(shop, "sagas", "show", saga_id)
    assert "COMPENSATION_FAILED" in shown.stdout and "operator retry" in shown.stdout
    released = [
        status
        for status in steps_of(shop, untouched_order, "reserve_stock")
        if status != "REPLY_IGNORED"  # the answers to the other copies of ReleaseStock
    ]
    assert released[-2:] == ["COMPENSATION_FAILED", "COMPENSATED"], (
        "the late answer finished the saga nobody retried"
    )


def test_status_shows_each_running_part_of_the_shop_up(shop):
    env = {
        **shop.env,
        "ORDER_SERVICE_URL": shop.order_url,
        "INVENTORY_SERVICE_URL": shop.inventory_url,
        "PAYMENT_SERVICE_URL": shop.payment_url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "shopctl", "status"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    parts_table = result.stdout.split("\ntopics")[0]
    rows = {line.split("│")[1].strip(): line for line in parts_table.splitlines() if "│" in line}
    for part in (
        "kafka",
        "postgresql",
        "order-service",
        "inventory-service",
        "payment-service",
        "order-service worker",
        "inventory-service worker",
        "payment-service worker",
        "saga orchestrator",
    ):
        assert " up " in rows[part], rows.get(part)
    assert "down" in rows["search indexer"], "no indexer runs in this shop"
    assert f"{shop.kafka.topic_namespace}orders.orders" in result.stdout
