"""Checkout end to end: the real services, orchestrator, Kafka and PostgreSQL, driven only
through the storefront's HTTP contract (plus kill -9 for crash recovery)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
import requests

from testkit.shop import ADMIN, ShopOptions, run_shop
from testkit.storefront import (
    assert_invariants,
    cancel,
    checkout,
    create_product,
    order,
    payments,
    place_order,
    product,
    wait_terminal,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def shop():
    with ExitStack() as stack:
        # Timeouts far beyond a loaded machine's answers, so only `tok_timeout` meets one
        # (the reply timeout also covers a worker restarted mid-test rejoining its group).
        yield run_shop(stack, ShopOptions(reply_timeout_s=60, payment_timeout_s=15))


def test_an_order_with_stock_and_a_good_card_is_approved_and_paid_once(shop):
    sku = create_product(shop, stock=5, price_cents=1250)
    approved = checkout(shop, [(sku, 2)])
    assert (approved["status"], approved["total_cents"]) == ("APPROVED", 2500)
    assert [(p["status"], p["amount_cents"]) for p in payments(shop, approved["order_id"])] == [
        ("CAPTURED", 2500)
    ]
    assert (product(shop, sku)["stock_on_hand"], product(shop, sku)["stock_reserved"]) == (3, 0)
    assert approved["saga"]["state"] == "COMPLETED"
    assert [s["name"] for s in approved["saga"]["steps"] if s["status"] == "SUCCEEDED"] == [
        "reserve_stock",
        "authorize_payment",
        "capture_payment",
        "commit_stock",
        "approve_order",
    ]


def test_an_order_for_more_than_the_stock_is_rejected_out_of_stock_holding_nothing(shop):
    sku = create_product(shop, stock=1)
    rejected = checkout(shop, [(sku, 2)])
    assert (rejected["status"], rejected["rejection_reason"]) == ("REJECTED", "OUT_OF_STOCK")
    assert payments(shop, rejected["order_id"]) == []
    assert (product(shop, sku)["stock_on_hand"], product(shop, sku)["stock_reserved"]) == (1, 0)


@pytest.mark.parametrize(
    ("token", "reason"),
    [("tok_declined", "PAYMENT_DECLINED"), ("tok_insufficient_funds", "INSUFFICIENT_FUNDS")],
)
def test_a_declined_card_releases_the_stock_and_rejects_with_the_reason(shop, token, reason):
    sku = create_product(shop, stock=3)
    rejected = checkout(shop, [(sku, 1)], payment_method=token)
    assert (rejected["status"], rejected["rejection_reason"]) == ("REJECTED", reason)
    assert [p["status"] for p in payments(shop, rejected["order_id"])] == ["DECLINED"]
    assert (product(shop, sku)["stock_on_hand"], product(shop, sku)["stock_reserved"]) == (3, 0)


def test_a_processor_that_never_answers_is_asked_again_then_times_out_voids_and_releases(shop):
    sku = create_product(shop, stock=3)
    order_id = place_order(shop, [(sku, 1)], payment_method="tok_timeout")
    # Three attempts of the payment's 15 s (SAGAS_STEP_ATTEMPTS), then the compensations.
    rejected = wait_terminal(shop, [order_id], timeout_s=180)[order_id]
    assert (rejected["status"], rejected["rejection_reason"]) == ("REJECTED", "TIMEOUT")
    assert {p["status"] for p in payments(shop, order_id)} <= {"VOIDED"}
    assert (product(shop, sku)["stock_on_hand"], product(shop, sku)["stock_reserved"]) == (3, 0)
    steps = [(s["name"], s["status"]) for s in rejected["saga"]["steps"]]
    assert steps.count(("authorize_payment", "RETRIED")) == 2
    assert {
        ("authorize_payment", "TIMED_OUT"),
        ("authorize_payment", "COMPENSATED"),
        ("reserve_stock", "COMPENSATED"),
    } <= set(steps)


def test_a_product_deleted_between_order_and_reservation_is_rejected_unavailable(shop):
    sku = create_product(shop, stock=3)
    place_order(shop, [(sku, 1)])  # the catalogue knows the sku now
    shop.stop("inventory_service:worker")
    try:
        order_id = place_order(shop, [(sku, 1)])
        deleted = requests.delete(f"{shop.inventory_url}/products/{sku}", headers=ADMIN, timeout=10)
        assert deleted.status_code == 204
    finally:
        shop.start("inventory_service:worker")
    rejected = wait_terminal(shop, [order_id])[order_id]
    assert (rejected["status"], rejected["rejection_reason"]) == ("REJECTED", "PRODUCT_UNAVAILABLE")
    assert payments(shop, order_id) == []


def test_cancelling_an_approved_order_refunds_it_and_returns_the_stock(shop):
    sku = create_product(shop, stock=4, price_cents=500)
    approved = checkout(shop, [(sku, 3)])
    assert approved["status"] == "APPROVED"
    response = cancel(shop, approved["order_id"])
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 60
    while order(shop, approved["order_id"])["status"] != "CANCELLED":
        assert time.monotonic() < deadline, shop.log_tail()
        time.sleep(0.3)
    assert [p["status"] for p in payments(shop, approved["order_id"])] == ["REFUNDED"]
    assert (product(shop, sku)["stock_on_hand"], product(shop, sku)["stock_reserved"]) == (4, 0)
    again = cancel(shop, approved["order_id"])
    assert again.status_code == 409


def test_concurrent_checkouts_for_the_last_unit_approve_exactly_one(shop):
    sku = create_product(shop, stock=1)
    warm_up = place_order(shop, [(sku, 1)], payment_method="tok_declined")  # teaches the catalogue
    wait_terminal(shop, [warm_up])
    with ThreadPoolExecutor(8) as pool:
        order_ids = list(pool.map(lambda _: place_order(shop, [(sku, 1)]), range(8)))
    outcomes = wait_terminal(shop, order_ids)
    assert [o["status"] for o in outcomes.values()].count("APPROVED") == 1
    assert_invariants(shop, outcomes)
    assert product(shop, sku)["stock_on_hand"] == 0
