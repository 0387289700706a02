"""The benchmark harness still works: a tiny checkout workload on a shop of real processes, into a
scratch results folder (figures at this size mean nothing; that it runs and checks every
outcome does), and the plot drawn from what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
        timeout=240,
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
