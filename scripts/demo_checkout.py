"""A demo checkout against the running shop: create a product, order it, watch the saga.

    make demo          (or: .venv/bin/python -m scripts.demo_checkout --payment-method tok_declined)

The storefront's customer (`demo-customer`) sends a customer token signed with the local
stack's dev key, as `shopctl token customer demo-customer` prints it. Prints each step, the
final order with its saga log, the order's payments, and where to see the whole checkout: the
order and its trace waterfall in the operator console (and in Jaeger's UI where one runs,
JAEGER_UI_URL, e.g. under Docker). Exits non-zero with one line if something fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid

import requests

from servicekit.customer_tokens import CustomerTokenSettings, TokenSigner


class DemoFailed(Exception):
    pass


ORDER_URL = os.environ.get("ORDER_SERVICE_URL", "http://127.0.0.1:8000")
INVENTORY_URL = os.environ.get("INVENTORY_SERVICE_URL", "http://127.0.0.1:8001")
PAYMENT_URL = os.environ.get("PAYMENT_SERVICE_URL", "http://127.0.0.1:8002")
CONSOLE_URL = os.environ.get("CONSOLE_URL", "http://127.0.0.1:8004")
#: Only where Jaeger's UI exists: the local build from the Go module proxy has none.
JAEGER_UI_URL = os.environ.get("JAEGER_UI_URL")
ADMIN = {"Authorization": f"Bearer {os.environ.get('ADMIN_TOKEN', 'dev-admin-token')}"}
CUSTOMER = "demo-customer"


def customer_headers() -> dict[str, str]:
    """The demo customer's token, signed with the dev key (`make up` created it)."""
    try:
        signer = TokenSigner.from_settings(CustomerTokenSettings())
    except ValueError as error:
        raise DemoFailed(str(error)) from None
    return {"Authorization": f"Bearer {signer.customer_token(CUSTOMER)}"}


def create_product(sku: str) -> dict:
    response = requests.post(
        f"{INVENTORY_URL}/products",
        headers=ADMIN,
        timeout=10,
        json={
            "sku": sku,
            "name": "Demo espresso cup",
            "description": "A small cup for the demo",
            "category": "kitchen",
            "price_cents": 1250,
            "stock": 5,
            "attributes": {"colour": "white"},
        },
    )
    if response.status_code != 201:
        raise DemoFailed(f"creating the product failed: {response.status_code} {response.text}")
    return response.json()


def place_order(
    sku: str, payment_method: str, timeout_s: float, customer: dict[str, str]
) -> requests.Response:
    """POST /orders, retried with the same Idempotency-Key while the order service's catalogue
    has not yet heard of the new product (a 422 naming the sku)."""
    key = str(uuid.uuid4())
    body = {
        "customer_id": CUSTOMER,
        "payment_method": payment_method,
        "items": [{"sku": sku, "quantity": 2}],
    }
    deadline = time.monotonic() + timeout_s
    while True:
        response = requests.post(
            f"{ORDER_URL}/orders",
            json=body,
            timeout=10,
            headers={"Idempotency-Key": key, **customer},
        )
        if response.status_code in (200, 202):
            return response
        if response.status_code != 422 or time.monotonic() > deadline:
            raise DemoFailed(f"placing the order failed: {response.status_code} {response.text}")
        time.sleep(0.3)


SAGA_ACTIVE = {"NOT_STARTED", "RUNNING", "COMPENSATING", "ABORTING"}


def wait_for_outcome(order_id: str, timeout_s: float, customer: dict[str, str]) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        order = requests.get(f"{ORDER_URL}/orders/{order_id}", headers=customer, timeout=10).json()
        # The saga view trails the order's status by one Kafka hop: wait for both to settle.
        if order["status"] != "PENDING" and order["saga"]["state"] not in SAGA_ACTIVE:
            return order
        time.sleep(0.3)
    raise DemoFailed(f"order {order_id} was still PENDING after {timeout_s:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--payment-method",
        default="tok_visa",
        help="tok_visa, tok_declined, tok_insufficient_funds or tok_timeout",
    )
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    try:
        sku = f"DEMO-{uuid.uuid4().hex[:8].upper()}"
        product = create_product(sku)
        print(
            f"1. created product {sku} at {product['price_cents']} cents, "
            f"{product['stock_available']} in stock"
        )
        customer = customer_headers()
        response = place_order(sku, args.payment_method, args.timeout, customer)
        order_id = response.json()["order_id"]
        trace_id = response.headers.get("traceparent", "---").split("-")[1]
        print(
            f"2. placed order {order_id} (2 x {sku}, {args.payment_method}): "
            f"{response.status_code} {response.json()['status']}"
        )
        order = wait_for_outcome(order_id, args.timeout, customer)
        print(
            f"3. the checkout saga ended: {order['status']}"
            + (f" ({order['rejection_reason']})" if order.get("rejection_reason") else "")
        )
        print(json.dumps(order, indent=2))
        payments = requests.get(
            f"{PAYMENT_URL}/payments", params={"order_id": order_id}, headers=customer, timeout=10
        ).json()
        print(f"4. payments: {json.dumps(payments)}")
        print(f"5. the order in the console: {CONSOLE_URL}/orders/{order_id}")
        print(f"   the whole checkout as one trace: {CONSOLE_URL}/traces/{trace_id}")
        if JAEGER_UI_URL:
            print(f"   and in Jaeger's UI: {JAEGER_UI_URL}/trace/{trace_id}")
    except requests.RequestException as error:
        print(
            f"demo: a service did not answer ({error}); is the shop up? run: make up",
            file=sys.stderr,
        )
        return 1
    except DemoFailed as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
