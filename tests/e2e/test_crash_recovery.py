"""Crash recovery: kill -9 a process in the middle of 200 concurrent checkouts; after it
restarts, every saga ends and the contract's invariants hold for every order."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest

from testkit.shop import ShopOptions, run_shop
from testkit.storefront import (
    assert_invariants,
    assert_stock_conserved,
    create_product,
    place_order,
    wait_terminal,
)

pytestmark = pytest.mark.e2e
CHECKOUTS = 200


@pytest.fixture(scope="module")
def shop():
    with ExitStack() as stack:
        # A killed worker is back within ~15 s (restart + session takeover), then works off a
        # backlog of checkouts; on a loaded machine both take far longer: sagas wait 2 minutes.
        yield run_shop(stack, ShopOptions(reply_timeout_s=120, payment_timeout_s=120))


@pytest.mark.parametrize(
    "victim",
    ["sagas:worker", "inventory_service:worker", "payment_service:worker", "order_service:worker"],
)
def test_a_process_killed_mid_checkout_recovers_and_every_order_ends_consistent(shop, victim):
    stock = {create_product(shop, stock=80): 80 for _ in range(3)}
    scarce = create_product(shop, stock=5)
    stock[scarce] = 5
    skus = list(stock)
    for sku in skus:  # the catalogue learns every sku before the load starts
        wait_terminal(shop, [place_order(shop, [(sku, 1)], payment_method="tok_declined")])

    rng = random.Random(7)
    plans = []
    for _ in range(CHECKOUTS):
        roll = rng.random()
        if roll < 0.15:
            plans.append(([(scarce, 2)], "tok_visa"))  # runs out: OUT_OF_STOCK for most
        elif roll < 0.30:
            plans.append(([(rng.choice(skus[:3]), 1)], "tok_declined"))
        else:
            plans.append(([(rng.choice(skus[:3]), rng.randint(1, 2))], "tok_visa"))

    placed: list[str] = []
    killed = threading.Event()

    def place(plan) -> str:
        order_id = place_order(shop, *plan, timeout_s=120)
        placed.append(order_id)
        if len(placed) == CHECKOUTS // 2 and not killed.is_set():
            killed.set()
            shop.kill(victim)  # in the middle of the load
        return order_id

    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(place, plan) for plan in plans]
        while not killed.is_set():
            time.sleep(0.05)
        time.sleep(2)
        shop.start(victim)
        order_ids = [future.result() for future in futures]

    outcomes = wait_terminal(shop, order_ids, timeout_s=300)
    assert len(outcomes) == CHECKOUTS
    assert_invariants(shop, outcomes)
    for sku, initial in stock.items():
        assert_stock_conserved(shop, sku, initial, outcomes)
    assert [o["status"] for o in outcomes.values()].count("APPROVED") > CHECKOUTS // 3
