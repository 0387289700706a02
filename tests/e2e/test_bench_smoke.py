"""The benchmark harness still works: a tiny checkout workload on a shop of real processes, into a
scratch results folder (figures at this size mean nothing; that it runs and checks every
outcome does), and the plot drawn from what it wrote; the monolith baseline on its own, and
against a shop as `make bench` runs it. Everything is on loopback, on the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bench.checkout import EXPECTED
from bench.monolith import MonolithBench, running_monolith
from eventing.topics import ORDERS

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def run_bench(module: str, results: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env={**os.environ, "BENCH_RESULTS_DIR": str(results)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_a_tiny_checkout_benchmark_ends_every_checkout_as_its_kind_and_plots(tmp_path):
    run_bench(
        "bench.checkout",
        tmp_path,
        *("--seconds", "3", "--clients", "2", "--workers", "1", "--open-rates", "2"),
    )
    runs = json.loads((tmp_path / "checkout.json").read_text())["runs"]
    assert [run["mode"] for run in runs] == ["closed", "open"]
    assert all(run["completed"] > 0 for run in runs)
    assert all((run["wrong_outcomes"], run["unfinished"]) == (0, 0) for run in runs)
    cost = runs[0]["cost_per_checkout"]
    assert cost["kafka_messages_by_topic"][ORDERS] >= 2  # OrderCreated, then Approved/Rejected
    assert cost["postgres_write_transactions"] > cost["kafka_messages"] / 2

    run_bench("bench.plot", tmp_path)
    assert (tmp_path / "bench.png").stat().st_size > 10_000


def test_the_monolith_baseline_ends_every_checkout_of_the_mix_as_its_kind():
    with running_monolith(api_workers=1, threads=2) as monolith:
        run = MonolithBench(monolith).closed_loop(clients=2, seconds=2, warmup_s=0.5)
    assert run["completed"] > 0
    assert (run["wrong_outcomes"], run["unfinished"]) == (0, 0)
    cost = run["cost_per_checkout"]
    assert cost["postgres_commits"] >= 1  # the checkout's one transaction, and the pool's ping
    assert cost["cpu_ms_by_group"]["monolith"] > 0
    assert "kafka_messages" not in cost


def test_the_monolith_places_an_order_once_per_idempotency_key_and_answers_bad_input_with_4xx():
    with running_monolith(api_workers=1, threads=2) as monolith:
        assert monolith.post_product("ONE-LEFT", stock=1, category="e2e").status_code == 201
        url, headers = f"{monolith.order_url}/orders", monolith.customer_headers("c-1")
        order = {
            "customer_id": "c-1",
            "payment_method": "tok_visa",
            "items": [{"sku": "ONE-LEFT", "quantity": 1}],
        }
        keyed = {**headers, "Idempotency-Key": "k-1"}
        first = requests.post(url, json=order, headers=keyed, timeout=30)
        again = requests.post(url, json=order, headers=keyed, timeout=30)
        assert (first.status_code, first.json()["status"]) == (201, "APPROVED")
        assert again.json()["order_id"] == first.json()["order_id"]
        other = requests.post(
            url, json=order, headers={**headers, "Idempotency-Key": "k-2"}, timeout=30
        )
        assert (other.json()["status"], other.json()["reason"]) == (
            "REJECTED",
            EXPECTED["out_of_stock"][1],
        )

        unknown = {**order, "items": [{"sku": "NO-SUCH", "quantity": 1}]}
        answers = [
            requests.post(url, json=order, headers={"Idempotency-Key": "k-3"}, timeout=30),
            requests.post(
                url, json={"items": "x"}, headers={**keyed, "Idempotency-Key": "k-4"}, timeout=30
            ),
            requests.post(
                url, json=unknown, headers={**keyed, "Idempotency-Key": "k-5"}, timeout=30
            ),
            requests.post(url, json=order, headers=headers, timeout=30),
        ]
        assert [a.status_code for a in answers] == [401, 422, 422, 400]
        assert all(a.headers["Content-Type"] == "application/problem+json" for a in answers)


def test_make_bench_compares_the_shop_with_the_monolith_in_one_interleaved_run(tmp_path):
    run_bench(
        "bench.monolith",
        tmp_path,
        *("--seconds", "2", "--clients", "2", "--rounds", "1"),
    )
    result = json.loads((tmp_path / "monolith.json").read_text())
    (pair,) = result["pairs"]
    assert pair["order"] == ["shop", "monolith"]
    for system in ("shop", "monolith"):
        assert pair[system]["completed"] > 0
        assert (pair[system]["wrong_outcomes"], pair[system]["unfinished"]) == (0, 0)
    assert set(result["shop_over_monolith"]["2"]) == {
        "throughput",
        "latency_p50",
        "latency_p99",
        "machine_cpu_per_checkout",
    }


def test_the_ab_benchmark_drives_two_builds_side_by_side_and_writes_their_ratios(tmp_path):
    run_bench(
        "bench.ab",
        tmp_path,
        *("--baseline", "HEAD", "--seconds", "2", "--clients", "2", "--rounds", "1"),
    )
    result = json.loads((tmp_path / "ab.json").read_text())
    (pair,) = result["pairs"]
    assert pair["order"] == ["baseline", "current"]
    for build in ("baseline", "current"):
        assert pair[build]["completed"] > 0
        assert (pair[build]["wrong_outcomes"], pair[build]["unfinished"]) == (0, 0)
    assert set(result["current_over_baseline"]["2"]) == {
        "throughput",
        "latency_p50",
        "latency_p99",
        "machine_cpu_per_checkout",
        "commits_per_checkout",
        "kafka_messages_per_checkout",
    }


def test_the_search_benchmark_sets_the_indexer_beside_elasticsearchs_bulk_rate(tmp_path):
    run_bench(
        "bench.search",
        tmp_path,
        *("--events", "400", "--products", "40", "--rate", "20", "--seconds", "1"),
        *("--lag-products", "5"),
    )
    result = json.loads((tmp_path / "search.json").read_text())
    assert result["throughput"]["events"] == 400
    assert result["elasticsearch_bulk"]["documents"] == 400
    assert result["indexer_over_elasticsearch_bulk"] > 0
    assert result["lag"]["found"] == result["lag"]["events"] == 20
