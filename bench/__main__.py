"""`python -m bench` (`make bench`): every benchmark in one run, on the local stack, then a
summary that reads the checkout figures against this machine's limits.

1. `bench.limits`: raw Kafka produce/consume, PostgreSQL commits/s.
2. `bench.checkout`: closed-loop sweep, open loop at 50% and 80% of the maximum, scaling.
3. `bench.search`: indexing throughput and lag until searchable.

The bound a checkout workload could reach on this machine, if nothing but Kafka and PostgreSQL
limited it, is min(Kafka produce rate / messages per checkout, PostgreSQL commit rate / write
transactions per checkout); the summary gives the best throughput as a fraction of it. Writes
bench/results/{limits,checkout,search,summary}.json and bench/results/bench.png.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench.plot import plot
from bench.report import print_table, read_result, write_result


def run(module: str, *args: str) -> None:
    print(f"\n$ python -m {module} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", module, *args], check=True)


def summary() -> dict:
    limits, checkout = read_result("limits"), read_result("checkout")
    assert limits is not None and checkout is not None, "bench.limits and bench.checkout first"
    best = max(
        (r for r in checkout["runs"] if r["mode"] == "closed"), key=lambda r: r["sagas_per_s"]
    )
    cost = best["cost_per_checkout"]
    kafka_bound = limits["kafka"]["produce_per_s"] / cost["kafka_messages"]
    postgres_bound = limits["postgres_best_commits_per_s"] / cost["postgres_write_transactions"]
    bound = min(kafka_bound, postgres_bound)
    cores = checkout["machine"]["cores"]
    result = {
        "best_closed_loop": {"clients": best["clients"], "sagas_per_s": best["sagas_per_s"]},
        "kafka_messages_per_checkout": cost["kafka_messages"],
        "postgres_write_transactions_per_checkout": cost["postgres_write_transactions"],
        "machine_cpu_ms_per_checkout": cost["machine_cpu_ms"],
        "bound_from_kafka_per_s": kafka_bound,
        "bound_from_postgres_per_s": postgres_bound,
        "bound_per_s": bound,
        "fraction_of_bound": best["sagas_per_s"] / bound,
        "bound_from_cpu_per_s": cores * 1000 / cost["machine_cpu_ms"],
        "machine_cores_busy_at_best": best["machine_cores_busy"],
    }
    print_table(
        "summary",
        [
            ("best closed loop (checkouts/s)", f"{best['sagas_per_s']:.1f} @ {best['clients']}"),
            ("Kafka messages per checkout", f"{cost['kafka_messages']:.1f}"),
            (
                "PostgreSQL write transactions per checkout",
                f"{cost['postgres_write_transactions']:.1f}",
            ),
            ("bound from Kafka produce (checkouts/s)", f"{kafka_bound:,.0f}"),
            ("bound from PostgreSQL commits (checkouts/s)", f"{postgres_bound:,.0f}"),
            ("best / bound", f"{result['fraction_of_bound']:.3f}"),
            ("machine CPU per checkout (ms)", f"{cost['machine_cpu_ms']:.0f}"),
            (f"cores busy at best (of {cores})", f"{best['machine_cores_busy']:.2f}"),
        ],
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", default="15", help="length of each checkout run")
    args = parser.parse_args()
    run("bench.limits")
    run("bench.checkout", "--seconds", args.seconds)
    run("bench.search")
    print(f"written to {write_result('summary', summary())}")
    print(f"plot: {plot()}")


if __name__ == "__main__":
    main()
