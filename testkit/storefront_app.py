"""The reference storefront as a real process beside a test shop (`python -m storefront
serve`, as `make up` runs it), on a free port, calling that shop's APIs with customer tokens
its key signs; and a search-enabled shop to run it on, with products worth searching for.

(`testkit.storefront` is the storefront's side of the contract as a script calls it; this is
the storefront people use.)"""

from __future__ import annotations

import secrets
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import requests

from servicekit.customer_tokens import private_pem
from testkit.conditions import wait_for
from testkit.ports import free_port
from testkit.search import Indexer
from testkit.shop import ADMIN, REPO, Shop, ShopOptions, run_shop

STOREFRONT = "storefront:serve"
HTMX = REPO / "storefront" / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"


@dataclass(frozen=True)
class RunningStorefront:
    url: str


@dataclass(frozen=True)
class Product:
    """What a test puts in the catalogue: named to be searched for."""

    name: str
    category: str
    price_cents: int
    stock: int
    description: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    sku: str = field(default_factory=lambda: f"SF-{uuid.uuid4().hex[:10].upper()}")


def run_search_shop(stack: ExitStack, options: ShopOptions) -> tuple[Shop, Indexer]:
    """A shop serving the search API, and an indexer feeding its index from the shop's topics
    (both stopped, and the index removed, when `stack` closes)."""
    options.search_api = True
    shop = run_shop(stack, options)
    indexer = Indexer(kafka=shop.kafka, index_alias=shop.env["SEARCH_INDEX_ALIAS"])
    stack.callback(indexer.close)
    indexer.start()
    return shop, indexer


def add_product(shop: Shop, product: Product) -> Product:
    response = requests.post(
        f"{shop.inventory_url}/products",
        headers=ADMIN,
        timeout=30,
        json={
            "sku": product.sku,
            "name": product.name,
            "description": product.description,
            "category": product.category,
            "price_cents": product.price_cents,
            "stock": product.stock,
            "attributes": product.attributes,
        },
    )
    assert response.status_code == 201, response.text
    return product


def wait_searchable(shop: Shop, products: list[Product], timeout_s: float = 120.0) -> None:
    """Until the search API lists every one of `products` under its category."""
    wanted = {p.sku for p in products}

    def indexed() -> bool:
        found: set[str] = set()
        for category in {p.category for p in products}:
            response = requests.get(
                f"{shop.search_url}/search",
                params={"category": category, "page_size": "100"},
                timeout=10,
            )
            if response.ok:
                found |= {item["sku"] for item in response.json()["items"]}
        return wanted <= found

    wait_for(indexed, timeout_s, f"search found {sorted(wanted)}")


def start_storefront(shop: Shop, extra_env: dict[str, str] | None = None) -> RunningStorefront:
    """Start the storefront for `shop` (stopped with the shop's other processes). It signs
    its customers in with tokens of the shop's own key, as `shopctl token customer` does with
    the local stack's dev key."""
    assert HTMX.is_file(), (
        f"{HTMX} is missing (the order page's live panel needs it): run infra/bootstrap"
    )
    port = free_port()
    signing_key = shop.logs / "storefront-customer-token-signing.pem"
    signing_key.write_bytes(private_pem(shop.tokens.signer.private_key))
    signing_key.chmod(0o600)
    shop.env.update(
        {
            "STOREFRONT_PORT": str(port),
            "STOREFRONT_SECRET_KEY": secrets.token_urlsafe(32),
            "CUSTOMER_TOKEN_SIGNING_KEY_FILE": str(signing_key),
            "ORDER_SERVICE_URL": shop.order_url,
            "INVENTORY_SERVICE_URL": shop.inventory_url,
            "PAYMENT_SERVICE_URL": shop.payment_url,
            "SEARCH_SERVICE_URL": shop.urls.get(
                "search_indexer", f"http://127.0.0.1:{free_port()}"
            ),
            **(extra_env or {}),
        }
    )
    shop.start(STOREFRONT)
    url = f"http://127.0.0.1:{port}"
    process = shop.processes[STOREFRONT]

    def healthy() -> bool:
        assert process.poll() is None, f"the storefront exited; logs in {shop.logs}"
        try:
            return requests.get(f"{url}/healthz", timeout=2).ok
        except requests.RequestException:
            return False

    wait_for(healthy, 120, f"the storefront started (logs in {shop.logs})")
    return RunningStorefront(url)


def orders_of(shop: Shop, customer_id: str) -> list[dict]:
    """Every order of `customer_id`, as support staff read them (the admin token)."""
    response = requests.get(
        f"{shop.order_url}/orders",
        params={"customer_id": customer_id, "page_size": "100"},
        headers=ADMIN,
        timeout=10,
    )
    assert response.ok, response.text
    return list(response.json()["items"])
