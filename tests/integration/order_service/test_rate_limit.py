"""The per-customer rate limit on `POST /orders`, kept in the order service's PostgreSQL: one
count for every gunicorn worker of every API process, a 429 problem with Retry-After beyond
it, other customers unaffected, and a new window counting from one again."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
from sqlalchemy.orm import Session

from order_service.repository import SqlRateLimits
from servicekit.migrations import upgrade
from testkit.conditions import wait_for
from testkit.ports import free_port
from testkit.processes import terminate
from testkit.scratch import scratch_database
from testkit.shop import REPO

pytestmark = pytest.mark.integration

LIMIT = 6
HUGE_WINDOW_S = 100_000_000
"""Windows start at multiples of their length since the epoch: one this long cannot end
during the test."""


def _new_order() -> dict:
    """An order of a product the (empty) catalogue lacks: a 422 once past the limit check,
    which counts like any other request."""
    return {"items": [{"sku": "NO-SUCH-SKU", "quantity": 1}], "payment_method": "tok_visa"}


@pytest.fixture(scope="module")
def order_apis(customer_tokens, tmp_path_factory) -> Iterator[list[str]]:
    """Two order API processes (gunicorn, two workers each) on one database."""
    logs = tmp_path_factory.mktemp("order-apis")
    with ExitStack() as stack:
        engine = stack.enter_context(scratch_database(pool_size=1))
        url = engine.url.render_as_string(hide_password=False)
        upgrade(Path("order_service/migrations"), url)
        env = {
            **os.environ,
            **customer_tokens.env(),
            "ORDER_DATABASE_URL": url,
            "ORDER_RATE_LIMIT_ORDERS": str(LIMIT),
            "ORDER_RATE_LIMIT_WINDOW_S": str(HUGE_WINDOW_S),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
        }
        urls = []
        for n in (1, 2):
            port = free_port()
            log = stack.enter_context((logs / f"api-{n}.log").open("wb"))
            process = subprocess.Popen(
                [sys.executable, "-m", "order_service", "api", "--workers", "2"],
                cwd=REPO,
                env={**env, "ORDER_PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            stack.callback(terminate, process)
            urls.append(f"http://127.0.0.1:{port}")
        for url_ in urls:
            wait_for(lambda u=url_: _healthy(u), 240, f"{url_} answering (logs in {logs})")
        yield urls


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).ok
    except requests.RequestException:
        return False


def _post_order(url: str, headers: dict[str, str]) -> requests.Response:
    with requests.Session() as fresh:  # a connection of its own: any worker may take it
        return fresh.post(
            f"{url}/orders",
            json=_new_order(),
            headers={"Idempotency-Key": str(uuid.uuid4()), **headers},
            timeout=60,
        )


def test_the_limit_holds_across_every_worker_of_every_api_process(order_apis, customer_tokens):
    headers = customer_tokens.headers("c-busy")
    start = threading.Barrier(16)

    def attempt(n: int) -> requests.Response:
        start.wait()
        return _post_order(order_apis[n % 2], headers)

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(attempt, range(16)))

    assert Counter(r.status_code for r in responses) == {422: LIMIT, 429: 16 - LIMIT}
    refused = [r for r in responses if r.status_code == 429]
    for response in refused:
        assert response.headers["Content-Type"] == "application/problem+json"
        assert int(response.headers["Retry-After"]) >= 1
        assert f"at most {LIMIT} orders per" in response.json()["detail"]


def test_another_customer_has_a_limit_of_their_own(order_apis, customer_tokens):
    for url in order_apis:
        assert _post_order(url, customer_tokens.headers("c-calm")).status_code == 422


def test_a_new_window_counts_from_one_again(scratch_engine):
    upgrade(
        Path("order_service/migrations"), scratch_engine.url.render_as_string(hide_password=False)
    )
    window_s = 2

    def take() -> float | None:
        with Session(scratch_engine) as session:
            wait_s = SqlRateLimits(session).take("c-window", 2, window_s)
            session.commit()
        return wait_s

    wait_for(lambda: take() is not None, 30, "the limit reached within one window")
    wait_for(lambda: take() is None, 30, "the next window letting the customer order again")
