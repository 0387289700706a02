"""The storefront's side of the contract for end-to-end tests: create products, place orders
(retried with the same Idempotency-Key) with a customer token the shop's key signs, wait until
their sagas end, and check the contract's invariants on what the services report (read with
the admin token, as support staff would, so any customer's orders can be checked)."""

from __future__ import annotations

import time
import uuid

import requests

from testkit.shop import ADMIN, CUSTOMER, Shop

TERMINAL = {"APPROVED", "REJECTED", "CANCELLED"}
#: The saga view on an order is a projection of `sagas.progress`, one hop behind the order's own
#: status (the order is approved by the saga's last command, the saga completes on its reply).
SAGA_SETTLED = {"COMPLETED", "ABORTED", "COMPENSATION_FAILED"}


def new_sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:10].upper()}"


def create_product(shop: Shop, *, stock: int, price_cents: int = 1000, sku: str | None = None):
    sku = sku or new_sku()
    response = shop.post_product(sku, stock=stock, price_cents=price_cents)
    assert response.status_code == 201, response.text
    return sku


def product(shop: Shop, sku: str) -> dict:
    return requests.get(f"{shop.inventory_url}/products/{sku}", timeout=10).json()


def place_order(
    shop: Shop,
    items: list[tuple[str, int]],
    payment_method: str = "tok_visa",
    timeout_s: float = 60.0,
    customer_id: str = CUSTOMER,
) -> str:
    """POST /orders as `customer_id`; retried with the same key while the catalogue has not
    heard of a sku."""
    key = str(uuid.uuid4())
    headers = {"Idempotency-Key": key, **shop.customer_headers(customer_id)}
    body = {
        "customer_id": customer_id,
        "payment_method": payment_method,
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
    }
    deadline = time.monotonic() + timeout_s
    while True:
        response = requests.post(f"{shop.order_url}/orders", json=body, timeout=30, headers=headers)
        if response.status_code in (200, 202):
            return response.json()["order_id"]
        assert response.status_code == 422 and time.monotonic() < deadline, response.text
        time.sleep(0.2)


def order(shop: Shop, order_id: str) -> dict:
    response = requests.get(f"{shop.order_url}/orders/{order_id}", headers=ADMIN, timeout=10)
    assert response.ok, response.text
    return response.json()


def cancel(shop: Shop, order_id: str, customer_id: str = CUSTOMER) -> requests.Response:
    """POST /orders/{id}/cancel as the order's customer."""
    return requests.post(
        f"{shop.order_url}/orders/{order_id}/cancel",
        headers=shop.customer_headers(customer_id),
        timeout=30,
    )


def ended(current: dict) -> bool:
    return current["status"] in TERMINAL and current["saga"]["state"] in SAGA_SETTLED


def wait_terminal(shop: Shop, order_ids: list[str], timeout_s: float = 90.0) -> dict[str, dict]:
    """Each order once its status is terminal and its saga view shows the saga ended."""
    deadline = time.monotonic() + timeout_s
    done: dict[str, dict] = {}
    while len(done) < len(order_ids):
        for order_id in order_ids:
            if order_id not in done:
                current = order(shop, order_id)
                if ended(current):
                    done[order_id] = current
        if len(done) < len(order_ids):
            assert time.monotonic() < deadline, (
                f"{len(order_ids) - len(done)} orders still pending\n{shop.log_tail()}"
            )
            time.sleep(0.3)
    return done


def payments(shop: Shop, order_id: str) -> list[dict]:
    response = requests.get(
        f"{shop.payment_url}/payments", params={"order_id": order_id}, headers=ADMIN, timeout=10
    )
    assert response.ok, response.text
    return response.json()["items"]


def assert_invariants(shop: Shop, orders: dict[str, dict]) -> None:
    """The contract's invariants after every saga ended."""
    for order_id, current in orders.items():
        statuses = [p["status"] for p in payments(shop, order_id)]
        if current["status"] == "APPROVED":
            captured = [p for p in payments(shop, order_id) if p["status"] == "CAPTURED"]
            assert len(captured) == 1, (order_id, statuses)
            assert captured[0]["amount_cents"] == current["total_cents"]
        else:
            assert not {"CAPTURED", "AUTHORIZED"} & set(statuses), (order_id, statuses)


def assert_stock_conserved(shop: Shop, sku: str, initial: int, orders: dict[str, dict]) -> None:
    committed = sum(
        item["quantity"]
        for o in orders.values()
        if o["status"] == "APPROVED"
        for item in o["items"]
        if item["sku"] == sku
    )
    state = product(shop, sku)
    assert state["stock_reserved"] == 0, state
    assert state["stock_on_hand"] == initial - committed, (state, committed)
    assert state["stock_on_hand"] >= 0


def checkout(shop: Shop, items, payment_method="tok_visa") -> dict:
    order_id = place_order(shop, items, payment_method)
    return wait_terminal(shop, [order_id])[order_id]
