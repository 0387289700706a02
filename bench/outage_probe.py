"""How long the shop takes to come back after a fault, measured the way a storefront sees it.

A shop of its own on a private stack (its own PostgreSQL and Kafka, `testkit.private_stack`),
one `tok_visa` checkout every `--interval` seconds; `--fault-at` seconds in, the fault (kill -9
of the broker, of PostgreSQL, or of every worker and the orchestrator), healed `--down` seconds
later; then each order's placement time, time to terminal and outcome, and the recovery time:
from the heal until orders placed from then on are all approved.

    .venv/bin/python -m bench.outage_probe --fault kafka --down 20

The full fault drill (every fault, the approval fraction table) is bench/drill.py; this is the
small instrument used to find where the recovery time goes.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass

import requests

import testkit.shop as shop_module
from testkit.private_stack import PrivateStack, private_stack
from testkit.shop import Shop, ShopOptions, process_names, run_shop

TERMINAL = {"APPROVED", "REJECTED", "CANCELLED"}


@dataclass
class Placed:
    placed_at: float
    order_id: str | None = None
    error: str | None = None
    ended_at: float | None = None
    status: str | None = None
    reason: str | None = None


def place(shop: Shop, sku: str) -> str:
    response = requests.post(
        f"{shop.order_url}/orders",
        json={
            "customer_id": "probe",
            "payment_method": "tok_visa",
            "items": [{"sku": sku, "quantity": 1}],
        },
        headers={"Idempotency-Key": str(uuid.uuid4()), **shop.customer_headers("probe")},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["order_id"])


def ensure_product(shop: Shop, stock: int) -> str:
    sku = f"PROBE-{uuid.uuid4().hex[:8].upper()}"
    assert shop.post_product(sku, stock=stock).status_code == 201
    deadline = time.monotonic() + 120
    while True:
        try:
            order_id = place(shop, sku)
            break
        except requests.HTTPError:
            assert time.monotonic() < deadline, "the catalogue never heard of the product"
            time.sleep(0.3)
    wait_ended(shop, [Placed(time.monotonic(), order_id)], 120)
    return sku


def wait_ended(shop: Shop, orders: list[Placed], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        pending = [o for o in orders if o.order_id and o.ended_at is None]
        if not pending:
            return
        for placed in pending:
            try:
                current = requests.get(
                    f"{shop.order_url}/orders/{placed.order_id}",
                    headers=shop.customer_headers("probe"),
                    timeout=5,
                ).json()
            except (requests.RequestException, ValueError):
                continue
            if current.get("status") in TERMINAL:
                placed.ended_at = time.monotonic()
                placed.status = current["status"]
                placed.reason = current.get("rejection_reason")
        if time.monotonic() >= deadline:
            return
        time.sleep(0.2)


def fault(stack: PrivateStack, shop: Shop, kind: str, down_s: float) -> tuple[float, float]:
    """Inflict the fault and heal it; (when it struck, when it was healed) on the monotonic
    clock."""
    workers = [name for name in process_names() if name.endswith(":worker")]
    struck = time.monotonic()
    if kind == "workers":
        for name in workers:
            shop.kill(name)
        for name in workers:
            shop.start(name)
        return struck, time.monotonic()
    stack[kind].kill()
    time.sleep(down_s)
    stack[kind].up()
    return struck, time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault", choices=("kafka", "postgres", "workers"), default="kafka")
    parser.add_argument("--down", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--fault-at", type=float, default=10.0)
    parser.add_argument("--after", type=float, default=60.0, help="load after the heal")
    parser.add_argument("--normal-s", type=float, default=3.0, help="a normal latency")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the shop")
    parser.add_argument(
        "--dynamic", action="store_true", help="workers without static membership (as before)"
    )
    parser.add_argument("--out", default=None, help="write every order as JSON here")
    args = parser.parse_args()
    if args.dynamic:
        shop_module.group_membership = lambda *_: {}

    with ExitStack() as stack:
        private = stack.enter_context(private_stack(["postgres", "kafka"]))
        shop = run_shop(
            stack,
            ShopOptions(
                servers=private.addresses(),
                reply_timeout_s=10,
                payment_timeout_s=10,
                retry_base_delay_s=1,
                extra_env=dict(e.split("=", 1) for e in args.env),
            ),
        )
        sku = ensure_product(shop, stock=100_000)
        orders: list[Placed] = []
        stop = threading.Event()

        def load() -> None:
            next_at = time.monotonic()
            while not stop.is_set():
                placed = Placed(time.monotonic())
                try:
                    placed.order_id = place(shop, sku)
                except requests.RequestException as error:
                    placed.error = str(error)[:200]
                orders.append(placed)
                next_at += args.interval
                stop.wait(max(0.0, next_at - time.monotonic()))

        def track() -> None:
            while not stop.is_set():
                wait_ended(shop, list(orders), 0)
                stop.wait(0.2)

        loader = threading.Thread(target=load, daemon=True)
        tracker = threading.Thread(target=track, daemon=True)
        start = time.monotonic()
        loader.start()
        tracker.start()
        time.sleep(args.fault_at)
        struck, healed = fault(private, shop, args.fault, args.down)
        time.sleep(args.after)
        stop.set()
        loader.join()
        tracker.join()
        wait_ended(shop, orders, 180)
        report(orders, start, struck, healed, args)


def report(
    orders: list[Placed], start: float, struck: float, healed: float, args: argparse.Namespace
) -> None:
    """Each order, then a summary; times in seconds from the start of the load."""

    def rel(moment: float | None) -> float | None:
        return None if moment is None else round(moment - start, 2)

    rows = [
        {**asdict(o), "placed_at": rel(o.placed_at), "ended_at": rel(o.ended_at)} for o in orders
    ]
    if args.out:
        with open(args.out, "w") as out:
            json.dump(rows, out, indent=1)
    for row in rows:
        latency = (
            round(row["ended_at"] - row["placed_at"], 2) if row["ended_at"] is not None else None
        )
        print(
            f"{row['placed_at']:7.2f} {row['status'] or row['error'] or 'PENDING':>10} "
            f"{row['reason'] or '':<22} latency={latency}"
        )
    bad = [o for o in orders if o.status != "APPROVED"]
    last_bad_placed = max((o.placed_at for o in bad), default=None)
    last_bad_end = max((o.ended_at or o.placed_at for o in bad), default=None)
    approved = sum(o.status == "APPROVED" for o in orders)
    slow = [o for o in orders if o.ended_at is None or o.ended_at - o.placed_at > args.normal_s]
    stuck_end = max((o.ended_at or float("nan") for o in orders if o.placed_at < healed), default=0)
    print(
        json.dumps(
            {
                "fault": args.fault,
                "struck_at": rel(struck),
                "healed_at": rel(healed),
                "orders": len(orders),
                "approved": approved,
                "rejected": sum(o.status == "REJECTED" for o in orders),
                "refused_at_placement": sum(o.error is not None for o in orders),
                "not_approved": len(bad),
                "last_failed_order_placed_after_heal_s": (
                    round(last_bad_placed - healed, 2) if last_bad_placed else None
                ),
                "last_failure_seen_after_heal_s": (
                    round(last_bad_end - healed, 2) if last_bad_end else None
                ),
                "backlog_done_after_heal_s": round(stuck_end - healed, 2),
                "last_slow_order_placed_after_heal_s": (
                    round(max(o.placed_at for o in slow) - healed, 2) if slow else None
                ),
                "max_latency_s": round(max((o.ended_at or 0) - o.placed_at for o in orders), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
