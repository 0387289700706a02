"""Recovery drill: a service database restored from an earlier backup is brought back in line
with the rest of the shop by replaying the topics it consumes, with `shopctl replay`."""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest

from testkit.shop import REPO, ShopOptions, run_shop
from testkit.storefront import create_product, payments, place_order, wait_terminal

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def shop():
    with ExitStack() as stack:
        # Timeouts no loaded machine reaches: every checkout here is answered.
        yield run_shop(stack, ShopOptions(reply_timeout_s=60, payment_timeout_s=60))


def libpq_url(shop, prefix: str) -> str:
    return shop.env[f"{prefix}DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://")


def checkouts(shop, sku: str, methods: list[str]) -> dict[str, dict]:
    order_ids = [place_order(shop, [(sku, 1)], payment_method=m) for m in methods]
    return wait_terminal(shop, order_ids)


def test_a_payments_database_restored_from_a_backup_catches_up_by_replay(shop, tmp_path):
    sku = create_product(shop, stock=50)
    before = checkouts(shop, sku, ["tok_visa", "tok_visa", "tok_declined"])
    time.sleep(1)
    backup_time = datetime.now(UTC)
    dump = tmp_path / "payments.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={dump}", libpq_url(shop, "PAYMENT_")],
        check=True,
        timeout=60,
    )
    after = checkouts(shop, sku, ["tok_visa", "tok_insufficient_funds", "tok_visa"])
    expected = {
        order_id: [(p["status"], p["amount_cents"]) for p in payments(shop, order_id)]
        for order_id in [*before, *after]
    }

    shop.stop("payment_service:worker")
    shop.stop("payment_service:api")
    subprocess.run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--single-transaction",
            f"--dbname={libpq_url(shop, 'PAYMENT_')}",
            str(dump),
        ],
        check=True,
        timeout=60,
    )
    replay = subprocess.run(
        [
            sys.executable,
            "-m",
            "shopctl",
            "replay",
            "--topic",
            "payment.commands",
            "--group",
            "payment-service",
            "--from-time",
            backup_time.isoformat(),
        ],
        cwd=REPO,
        env=shop.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr
    shop.start("payment_service:worker")
    shop.start("payment_service:api")
    shop.wait_ready()

    deadline = time.monotonic() + 120
    while True:
        restored = {
            order_id: [(p["status"], p["amount_cents"]) for p in payments(shop, order_id)]
            for order_id in expected
        }
        if restored == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert restored == expected, "every order's payments are back, none doubled"
