"""A monolith baseline: the shop's checkout as one Flask route in one PostgreSQL transaction.

A yardstick for what the distribution costs, not a second shop. `POST /orders` prices the items,
reserves the stock, authorises the simulated payment, captures it, commits the stock and
approves the order (or rejects it: out of stock, payment declined), all in one transaction, and
answers with the outcome. The same stack as the shop's APIs: gunicorn (gthread, the same worker
and thread counts), Flask, SQLAlchemy (Core) on psycopg2, a scratch database on the same
PostgreSQL, the customer token verified by `servicekit.customer_tokens` as the order API does; an
Idempotency-Key per customer makes a resend the same order. Unlike the shop's APIs it exports no
telemetry and writes no access log. It imports no service: a baseline that reused the shop's code
would measure the shop.

`python -m bench.monolith` runs the shop (as `bench.checkout` does) and the monolith side by side
and drives each with the same storefront workload (`bench.checkout`'s mix and outcome checks),
closed loop, interleaved: for every round and client count, one system then the other, the order
swapped every round (ABBA). Both stay up all along, so each one's figures include the other's
idle load. Prints the shop's throughput, latency and CPU per checkout as fractions of the
monolith's and writes bench/results/monolith.json (after every run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask, jsonify, request
from sqlalchemy.dialects.postgresql import insert

from bench.checkout import (
    CATALOGUE_SIZE,
    EXPECTED,
    Checkout,
    Costs,
    Meter,
    Storefront,
    add_telemetry_argument,
    closed_loop_result,
    per_checkout,
    run_closed_loop,
    running_shop,
)
from bench.interleaved import interleaved_pairs, medians, print_medians
from bench.report import write_result
from servicekit.customer_tokens import (
    CustomerTokenSettings,
    CustomerTokenVerifier,
    InvalidCustomerToken,
)
from testkit.ports import free_port
from testkit.processes import terminate
from testkit.scratch import scratch_database
from testkit.shop import ADMIN
from testkit.tokens import TokenIssuer

REPO = Path(__file__).resolve().parents[1]
metadata = sa.MetaData()
products = sa.Table(
    "products",
    metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("price_cents", sa.BigInteger, nullable=False),
    sa.Column("stock", sa.Integer, sa.CheckConstraint("stock >= 0"), nullable=False),
    sa.Column("reserved", sa.Integer, nullable=False, server_default="0"),
)
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", sa.Uuid, primary_key=True),
    sa.Column("customer_id", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("total_cents", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("customer_id", "idempotency_key"),
)
order_lines = sa.Table(
    "order_lines",
    metadata,
    sa.Column("order_id", sa.Uuid, sa.ForeignKey("orders.order_id"), primary_key=True),
    sa.Column("sku", sa.Text, sa.ForeignKey("products.sku"), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("price_cents", sa.BigInteger, nullable=False),
)
payments = sa.Table(
    "payments",
    metadata,
    sa.Column("order_id", sa.Uuid, sa.ForeignKey("orders.order_id"), primary_key=True),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
)
#: The simulated processor: how each payment method is answered (None: authorised).
DECLINES = {"tok_declined": "PAYMENT_DECLINED", "tok_insufficient_funds": "INSUFFICIENT_FUNDS"}


def problem(status: int, detail: str) -> Any:
    response = jsonify({"type": "about:blank", "status": status, "detail": detail})
    response.status_code = status
    response.content_type = "application/problem+json"
    return response


def parse_order(body: Any) -> tuple[str, str, dict[str, int]] | str:
    """(customer, payment method, quantity by sku), or what is wrong with the body."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    customer, method, items = body.get("customer_id"), body.get("payment_method"), body.get("items")
    if not isinstance(customer, str) or not isinstance(method, str):
        return "customer_id and payment_method must be strings"
    if not isinstance(items, list) or not items:
        return "items must be a non-empty list"
    lines: dict[str, int] = {}
    for item in items:
        sku, quantity = (
            (item.get("sku"), item.get("quantity")) if isinstance(item, dict) else (0, 0)
        )
        if not isinstance(sku, str) or type(quantity) is not int or not 1 <= quantity <= 1000:
            return "every item needs a sku and an integer quantity from 1 to 1000"
        lines[sku] = lines.get(sku, 0) + quantity
    return customer, method, lines


def checkout(
    connection: sa.Connection, customer: str, key: str, method: str, lines: dict[str, int]
) -> dict:
    """The whole checkout in the caller's transaction; the order as it ended."""
    order_id = uuid.uuid4()
    claimed = connection.execute(
        insert(orders)
        .values(
            order_id=order_id,
            customer_id=customer,
            idempotency_key=key,
            status="PENDING",
            total_cents=0,
        )
        .on_conflict_do_nothing()
        .returning(orders.c.order_id)
    ).first()
    if claimed is None:  # a resend: the order as the first request left it
        row = connection.execute(
            sa.select(orders).where(
                orders.c.customer_id == customer, orders.c.idempotency_key == key
            )
        ).one()
        return row._asdict()
    priced = connection.execute(
        sa.select(products.c.sku, products.c.price_cents, products.c.stock)
        .where(products.c.sku.in_(sorted(lines)))
        .order_by(products.c.sku)
        .with_for_update()
    ).all()
    if len(priced) != len(lines):
        raise LookupError(sorted(set(lines) - {row.sku for row in priced}))
    total = sum(row.price_cents * lines[row.sku] for row in priced)
    connection.execute(
        order_lines.insert(),
        [
            {
                "order_id": order_id,
                "sku": row.sku,
                "quantity": lines[row.sku],
                "price_cents": row.price_cents,
            }
            for row in priced
        ],
    )
    reason = saga_steps(
        connection, order_id, total, method, lines, {r.sku: r.stock for r in priced}
    )
    status = "REJECTED" if reason else "APPROVED"
    connection.execute(
        orders.update()
        .where(orders.c.order_id == order_id)
        .values(status=status, reason=reason, total_cents=total)
    )
    return {"order_id": order_id, "status": status, "reason": reason, "total_cents": total}


def saga_steps(
    connection: sa.Connection,
    order_id: uuid.UUID,
    total: int,
    method: str,
    lines: dict[str, int],
    stock: dict[str, int],
) -> str | None:
    """The shop's saga as plain statements: reserve the stock, authorise the payment (a
    decline releases the stock), capture it, commit the stock. None: approved; else why not."""
    if any(stock[sku] < quantity for sku, quantity in lines.items()):
        return "OUT_OF_STOCK"
    move_stock(connection, lines, stock=-1, reserved=+1)
    declined = DECLINES.get(method)
    connection.execute(
        payments.insert().values(
            order_id=order_id,
            amount_cents=total,
            status="DECLINED" if declined else "AUTHORIZED",
        )
    )
    if declined:
        move_stock(connection, lines, stock=+1, reserved=-1)
        return declined
    connection.execute(
        payments.update().where(payments.c.order_id == order_id).values(status="CAPTURED")
    )
    move_stock(connection, lines, stock=0, reserved=-1)
    return None


def move_stock(
    connection: sa.Connection, lines: dict[str, int], *, stock: int, reserved: int
) -> None:
    """Each line's quantity times `stock` onto the stock, times `reserved` onto the reserved."""
    for sku, quantity in lines.items():
        connection.execute(
            products.update()
            .where(products.c.sku == sku)
            .values(
                stock=products.c.stock + stock * quantity,
                reserved=products.c.reserved + reserved * quantity,
            )
        )


def create_app() -> Flask:
    """gunicorn's app factory; MONOLITH_DATABASE_URL names the database."""
    engine = sa.create_engine(
        os.environ["MONOLITH_DATABASE_URL"], pool_size=8, max_overflow=8, pool_pre_ping=True
    )
    verifier = CustomerTokenVerifier.from_settings(CustomerTokenSettings())
    app = Flask("monolith")

    @app.get("/readyz")
    def ready() -> Any:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return {"status": "ready"}

    @app.post("/products")
    def create_product() -> Any:
        if request.headers.get("Authorization") != ADMIN["Authorization"]:
            return problem(401, "the admin token is required")
        body = request.get_json(silent=True) or {}
        try:
            with engine.begin() as connection:
                connection.execute(
                    products.insert().values(
                        sku=body["sku"],
                        name=body["name"],
                        price_cents=body["price_cents"],
                        stock=body["stock"],
                    )
                )
        except (KeyError, sa.exc.IntegrityError, sa.exc.DataError):
            return problem(422, "a new sku, a name, price_cents and stock are required")
        return {"sku": body["sku"]}, 201

    @app.post("/orders")
    def place_order() -> Any:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            token_customer = verifier.customer_id(token)
        except InvalidCustomerToken:
            return problem(401, "a valid customer token is required")
        key = request.headers.get("Idempotency-Key")
        if not key:
            return problem(400, "an Idempotency-Key header is required")
        parsed = parse_order(request.get_json(silent=True))
        if isinstance(parsed, str):
            return problem(422, parsed)
        customer, method, lines = parsed
        if customer != token_customer:
            return problem(403, "the token is for another customer")
        try:
            with engine.begin() as connection:
                order = checkout(connection, customer, key, method, lines)
        except LookupError as unknown:
            return problem(422, f"unknown skus: {unknown}")
        return {**order, "order_id": str(order["order_id"])}, 201

    return app


@dataclass
class Monolith:
    """The running baseline, as a storefront sees it (`bench.checkout.Store`)."""

    order_url: str
    tokens: TokenIssuer
    process: subprocess.Popen
    engine: sa.Engine

    def customer_headers(self, customer_id: str) -> dict[str, str]:
        return self.tokens.headers(customer_id)

    def post_product(
        self, sku: str, *, stock: int, category: str, http: requests.Session | None = None
    ) -> requests.Response:
        return (http or requests).post(
            f"{self.order_url}/products",
            headers=ADMIN,
            timeout=30,
            json={
                "sku": sku,
                "name": f"Product {sku} ({category})",
                "price_cents": 1000,
                "stock": stock,
            },
        )


@contextmanager
def running_monolith(
    api_workers: int, threads: int = 4, ready_timeout_s: float = 180
) -> Iterator[Monolith]:
    """The baseline under gunicorn on a free port and a scratch database, stopped on exit."""
    with ExitStack() as stack:
        engine = stack.enter_context(scratch_database(pool_size=2))
        metadata.create_all(engine)
        tokens = TokenIssuer.create()
        port = free_port()
        log = stack.enter_context(
            open(Path(tokens.public_key_file).with_name("monolith.log"), "ab")
        )
        process = subprocess.Popen(
            [
                sys.executable,
                *("-m", "gunicorn", "--worker-class", "gthread"),
                *("--workers", str(api_workers), "--threads", str(threads)),
                *("--bind", f"127.0.0.1:{port}", "--keep-alive", "75"),
                "bench.monolith:create_app()",
            ],
            cwd=REPO,
            env={
                **os.environ,
                **tokens.env(),
                "MONOLITH_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stack.callback(terminate, process)
        monolith = Monolith(f"http://127.0.0.1:{port}", tokens, process, engine)
        wait_ready(monolith, ready_timeout_s)
        yield monolith


def wait_ready(monolith: Monolith, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if requests.get(f"{monolith.order_url}/readyz", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        assert monolith.process.poll() is None, "the monolith exited: see monolith.log"
        assert time.monotonic() < deadline, "the monolith did not answer /readyz"
        time.sleep(0.3)


class MonolithBench:
    """The monolith under the storefront workload: seeded once, then closed-loop runs."""

    def __init__(self, monolith: Monolith) -> None:
        self.monolith = monolith
        database = monolith.engine.url.database or ""
        self.meter = Meter(monolith.engine, [database], lambda: {monolith.process.pid: "monolith"})
        skus = [f"BENCH-{uuid.uuid4().hex[:8].upper()}" for _ in range(CATALOGUE_SIZE)]
        scarce = f"SCARCE-{uuid.uuid4().hex[:8].upper()}"
        self.storefront = Storefront(monolith, skus, scarce)
        for sku in skus:
            self.storefront.create_product(sku, stock=1_000_000)
        self.storefront.create_product(scarce, stock=1)
        for kind in ["approved"] * CATALOGUE_SIZE + ["declined", "out_of_stock"]:
            warm = self._checkout(kind, time.time())
            if warm.outcome != EXPECTED[kind]:
                raise RuntimeError(f"warm-up checkout ended wrongly: {warm}")

    def _checkout(self, kind: str, started_at: float) -> Checkout:
        checkout = Checkout(kind, started_at)
        answer = self.storefront.place(checkout)
        checkout.ended_at = time.time()
        approved = answer["status"] == "APPROVED"
        checkout.outcome = (
            ("OrderApproved", None) if approved else ("OrderRejected", answer["reason"])
        )
        return checkout

    def closed_loop(self, clients: int, seconds: float, warmup_s: float = 2.0) -> dict:
        before = self.meter.settle()
        loop = run_closed_loop(self._checkout, clients, seconds, warmup_s)
        after = self.meter.settle()
        cost = per_checkout_without_kafka(before, after, len(loop.checkouts))
        return closed_loop_result(loop, clients, seconds, cost)


def per_checkout_without_kafka(before: Costs, after: Costs, checkouts: int) -> dict:
    cost = per_checkout(before, after, checkouts)
    return {key: value for key, value in cost.items() if not key.startswith("kafka")}


def fractions(shop: dict, monolith: dict) -> dict[str, float]:
    """The shop's figures as fractions of the monolith's."""
    return {
        "throughput": shop["sagas_per_s"] / monolith["sagas_per_s"],
        "latency_p50": shop["latency_ms"]["p50"] / monolith["latency_ms"]["p50"],
        "latency_p99": shop["latency_ms"]["p99"] / monolith["latency_ms"]["p99"],
        "machine_cpu_per_checkout": shop["cost_per_checkout"]["machine_cpu_ms"]
        / monolith["cost_per_checkout"]["machine_cpu_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each run")
    parser.add_argument("--clients", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--api-workers", type=int, default=2, help="gunicorn workers per API")
    add_telemetry_argument(parser)
    args = parser.parse_args()

    def save(pairs: list[dict]) -> None:
        write_result(
            "monolith",
            {
                "workload": vars(args),
                "pairs": pairs,
                "shop_over_monolith": medians(pairs, "shop_over_monolith"),
            },
        )

    with (
        running_shop(1, args.api_workers, args.telemetry) as shop,
        running_monolith(args.api_workers) as monolith,
    ):
        pairs = interleaved_pairs(
            {"shop": shop, "monolith": MonolithBench(monolith)},
            clients=args.clients,
            rounds=args.rounds,
            seconds=args.seconds,
            ratios=fractions,
            ratio_key="shop_over_monolith",
            saved=save,
        )

    print_medians("shop / monolith (median over rounds)", medians(pairs, "shop_over_monolith"))


if __name__ == "__main__":
    main()
