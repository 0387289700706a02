"""Two orchestrator instances in one consumer group share the sagas, and optimistic
concurrency on the saga row keeps any saga from advancing twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
import sqlalchemy as sa

from testkit.shop import ShopOptions, run_shop
from testkit.storefront import (
    assert_invariants,
    assert_stock_conserved,
    create_product,
    place_order,
    wait_terminal,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def shop():
    with ExitStack() as stack:
        # Timeouts no loaded machine reaches: every checkout here is answered.
        shop = run_shop(stack, ShopOptions(reply_timeout_s=60, payment_timeout_s=60))
        shop.start("sagas:worker:2")
        yield shop


def test_two_orchestrators_complete_every_saga_and_none_advances_twice(shop):
    skus = {create_product(shop, stock=40): 40 for _ in range(2)}
    for sku in skus:
        wait_terminal(shop, [place_order(shop, [(sku, 1)], payment_method="tok_declined")])
    plans = [
        ([(sku, 1)], "tok_visa" if n % 4 else "tok_declined")
        for n, sku in enumerate(list(skus) * 30)
    ]
    with ThreadPoolExecutor(10) as pool:
        order_ids = list(pool.map(lambda plan: place_order(shop, *plan), plans))
    outcomes = wait_terminal(shop, order_ids, timeout_s=180)
    assert_invariants(shop, outcomes)
    for sku, initial in skus.items():
        assert_stock_conserved(shop, sku, initial, outcomes)

    engine = sa.create_engine(shop.env["SAGAS_DATABASE_URL"])
    with engine.connect() as connection:
        repeated = connection.execute(
            sa.text(
                "SELECT saga_id, step, count(*) FROM saga_log WHERE status = 'SUCCEEDED' "
                "GROUP BY saga_id, step HAVING count(*) > 1"
            )
        ).all()
        ended = connection.execute(
            sa.text("SELECT count(*) FROM saga_instances WHERE state IN ('COMPLETED', 'ABORTED')")
        ).scalar_one()
    engine.dispose()
    assert repeated == [], "a saga step succeeded twice"
    assert ended == len(order_ids) + len(skus)
    for name in ("sagas:worker", "sagas:worker:2"):
        assert shop.processes[name].poll() is None, f"{name} died"
