"""`python -m bench` (`make bench`): every benchmark in one run, on the local stack, then a
summary that reads the checkout figures against this machine's limits and the monolith baseline.

1. `bench.limits`: raw Kafka produce/consume, PostgreSQL commits/s (pgbench).
2. `bench.checkout`: closed-loop sweep, open loop at 50% and 80% of the maximum, scaling.
3. `bench.monolith`: the shop against a monolith doing the same checkout in one transaction,
   interleaved, as fractions.
4. `bench.search`: indexing throughput and lag until searchable.

A part that fails does not stop the others: each writes its results as it goes, the summary is
made of what is there, and the exit status says which parts failed.

The bound a checkout workload could reach on this machine, if nothing but Kafka and PostgreSQL
limited it, is the least of: Kafka's produce rate / messages per checkout, PostgreSQL's commit
rate (pgbench) / write transactions per checkout, and the machine's cores / the CPU Kafka and
PostgreSQL themselves use per checkout (what would be left if the services cost nothing). The
summary gives the best throughput as a fraction of it. Writes bench/results/{limits,checkout,
monolith,search,summary}.json and bench/results/bench.png.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench.plot import plot
from bench.report import print_table, read_result, write_result


def run(module: str, *args: str) -> bool:
    """Run one part; whether it succeeded."""
    print(f"\n$ python -m {module} {' '.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", module, *args])
    if done.returncode != 0:
        print(f"python -m {module} failed (exit status {done.returncode})", flush=True)
    return done.returncode == 0


def bounds(limits: dict, cost: dict, cores: int) -> dict[str, float]:
    """Checkouts/s each of Kafka, PostgreSQL's commits and the servers' CPU would allow."""
    server_cpu_ms = cost["cpu_ms_by_group"].get("kafka", 0.0) + cost["cpu_ms_by_group"].get(
        "postgresql", 0.0
    )
    return {
        "kafka_produce": limits["kafka"]["produce_per_s"] / cost["kafka_messages"],
        # pgbench's commits are writes, each waiting for its WAL flush: read-only commits
        # (reported beside) wait for none and are left out of this bound.
        "postgres_write_commits": limits["postgres_best_commits_per_s"]
        / cost["postgres_write_transactions"],
        "kafka_and_postgres_cpu": cores * 1000 / server_cpu_ms if server_cpu_ms else float("inf"),
    }


def summary() -> dict:
    limits, checkout = read_result("limits"), read_result("checkout")
    monolith = read_result("monolith")
    result: dict = {"parts": {"limits": bool(limits), "checkout": bool(checkout)}}
    rows: list[tuple[str, str]] = []
    if checkout and any(r["mode"] == "closed" for r in checkout["runs"]):
        best = max(
            (r for r in checkout["runs"] if r["mode"] == "closed"), key=lambda r: r["sagas_per_s"]
        )
        cost = best["cost_per_checkout"]
        cores = checkout["machine"]["cores"]
        result |= {
            "best_closed_loop": {"clients": best["clients"], "sagas_per_s": best["sagas_per_s"]},
            "kafka_messages_per_checkout": cost["kafka_messages"],
            "postgres_write_transactions_per_checkout": cost["postgres_write_transactions"],
            "postgres_commits_per_checkout": cost.get("postgres_commits"),
            "machine_cpu_ms_per_checkout": cost["machine_cpu_ms"],
            "bound_from_machine_cpu_per_s": cores * 1000 / cost["machine_cpu_ms"],
            "machine_cores_busy_at_best": best["machine_cores_busy"],
        }
        rows += [
            ("best closed loop (checkouts/s)", f"{best['sagas_per_s']:.1f} @ {best['clients']}"),
            ("Kafka messages per checkout", f"{cost['kafka_messages']:.1f}"),
            ("PostgreSQL write transactions", f"{cost['postgres_write_transactions']:.1f}"),
            ("PostgreSQL commits per checkout", f"{cost.get('postgres_commits') or 0:.1f}"),
            ("machine CPU per checkout (ms)", f"{cost['machine_cpu_ms']:.0f}"),
            (f"cores busy at best (of {cores})", f"{best['machine_cores_busy']:.2f}"),
        ]
        if limits:
            each = bounds(limits, cost, cores)
            bound = min(each.values())
            result |= {
                "bounds_per_s": each,
                "bound_per_s": bound,
                "fraction_of_bound": best["sagas_per_s"] / bound,
            }
            rows += [(f"bound from {name} (checkouts/s)", f"{v:,.0f}") for name, v in each.items()]
            rows += [("best / bound", f"{result['fraction_of_bound']:.3f}")]
    if monolith:
        result["shop_over_monolith"] = monolith["shop_over_monolith"]
        rows += [
            (f"shop / monolith, {clients} clients: {key}", f"{value:.3f}")
            for clients, figures in monolith["shop_over_monolith"].items()
            for key, value in figures.items()
        ]
    if rows:
        print_table("summary", rows)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", default="15", help="length of each checkout run")
    parser.add_argument("--telemetry", default="otlp", choices=["otlp", "none"])
    args = parser.parse_args()
    telemetry = ("--telemetry", args.telemetry)
    parts = {
        "bench.limits": run("bench.limits"),
        "bench.checkout": run("bench.checkout", "--seconds", args.seconds, *telemetry),
        "bench.monolith": run("bench.monolith", "--seconds", args.seconds, *telemetry),
        "bench.search": run("bench.search"),
    }
    print(f"written to {write_result('summary', summary())}")
    try:
        print(f"plot: {plot()}")
    except Exception as error:  # a plot of partial results may lack a panel's data
        print(f"no plot: {error!r}")
        parts["bench.plot"] = False
    failed = [name for name, ok in parts.items() if not ok]
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)} (the others' results are written)")


if __name__ == "__main__":
    main()
