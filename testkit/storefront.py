"""The storefront's side of the contract, for end-to-end tests and drills: create products, place
orders (retried with the same Idempotency-Key), wait until their sagas end, and check the
contract's invariants on what the services report (read with the admin token, as support staff
would, so any customer's orders can be checked; as assertions for tests, as lists of violations
for a drill that counts them)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

import requests

from testkit.shop import ADMIN, CUSTOMER, Shop

TERMINAL = {"APPROVED", "REJECTED", "CANCELLED"}
#: The saga states an order's saga view ends in. The order API reads it from the orchestrator's
#: rows, written in the transaction that approves or rejects the order (a local step), so an
#: order's terminal status and its saga's end are seen together.
SAGA_SETTLED = {"COMPLETED", "ABORTED", "COMPENSATION_FAILED"}


def new_sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:10].upper()}"


def create_product(
    shop: Shop, *, stock: int, price_cents: int = 1000, sku: str | None = None
) -> str:
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
    """POST /orders as `customer_id`, with a token the shop's key signs; retried with the same
    key while the catalogue has not heard of a sku."""
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
    """The order as support staff read it (the admin token reads any customer's)."""
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


def settled_orders(shop: Shop, order_ids: Iterable[str], timeout_s: float) -> dict[str, dict]:
    """Each order whose status is terminal and whose saga view shows the saga ended, polled
    until all are or `timeout_s` has passed; the orders still pending are left out."""
    deadline = time.monotonic() + timeout_s
    pending = list(dict.fromkeys(order_ids))
    done: dict[str, dict] = {}
    http = requests.Session()
    http.headers.update(ADMIN)
    while True:
        for order_id in pending:
            response = http.get(f"{shop.order_url}/orders/{order_id}", timeout=10)
            if response.ok and ended(response.json()):
                done[order_id] = response.json()
        pending = [order_id for order_id in pending if order_id not in done]
        if not pending or time.monotonic() > deadline:
            return done
        time.sleep(0.3)


def wait_terminal(shop: Shop, order_ids: list[str], timeout_s: float = 90.0) -> dict[str, dict]:
    """Each order once its status is terminal and its saga view shows the saga ended."""
    done = settled_orders(shop, order_ids, timeout_s)
    assert len(done) == len(set(order_ids)), (
        f"{len(set(order_ids)) - len(done)} orders still pending\n{shop.log_tail()}"
    )
    return done


def payments(shop: Shop, order_id: str) -> list[dict]:
    response = requests.get(
        f"{shop.payment_url}/payments", params={"order_id": order_id}, headers=ADMIN, timeout=10
    )
    assert response.ok, response.text
    return response.json()["items"]


def invariant_violations(shop: Shop, orders: dict[str, dict]) -> list[str]:
    """What breaks the contract's invariants after every saga ended: an APPROVED order without
    exactly one CAPTURED payment of its total, or money taken or held for any other order."""
    violations = []
    for order_id, current in orders.items():
        found = payments(shop, order_id)
        statuses = [p["status"] for p in found]
        if current["status"] == "APPROVED":
            captured = [p["amount_cents"] for p in found if p["status"] == "CAPTURED"]
            if captured != [current["total_cents"]]:
                violations.append(
                    f"order {order_id} APPROVED for {current['total_cents']} cents, "
                    f"payments {statuses}, captured {captured}"
                )
        elif {"CAPTURED", "AUTHORIZED"} & set(statuses):
            violations.append(f"order {order_id} {current['status']} with payments {statuses}")
    return violations


def stock_violations(shop: Shop, sku: str, initial: int, orders: dict[str, dict]) -> list[str]:
    """What is wrong with a product's stock, given every order that ever took from it: nothing
    left reserved, and exactly what the APPROVED orders took gone from its stock on hand."""
    committed = sum(
        item["quantity"]
        for o in orders.values()
        if o["status"] == "APPROVED"
        for item in o["items"]
        if item["sku"] == sku
    )
    state = product(shop, sku)
    violations = []
    if state["stock_reserved"] != 0:
        violations.append(f"{sku}: {state['stock_reserved']} still reserved")
    if state["stock_on_hand"] != initial - committed:
        violations.append(
            f"{sku}: {state['stock_on_hand']} on hand, expected {initial} - {committed}"
        )
    if state["stock_on_hand"] < 0:
        violations.append(f"{sku}: stock below zero ({state['stock_on_hand']})")
    return violations


def assert_invariants(shop: Shop, orders: dict[str, dict]) -> None:
    """The contract's invariants after every saga ended."""
    violations = invariant_violations(shop, orders)
    assert not violations, violations


def assert_stock_conserved(shop: Shop, sku: str, initial: int, orders: dict[str, dict]) -> None:
    violations = stock_violations(shop, sku, initial, orders)
    assert not violations, violations


def checkout(shop: Shop, items: list[tuple[str, int]], payment_method: str = "tok_visa") -> dict:
    order_id = place_order(shop, items, payment_method)
    return wait_terminal(shop, [order_id])[order_id]
