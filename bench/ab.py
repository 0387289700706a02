"""A/B: this build's shop against an earlier commit's, in one run, interleaved.

`python -m bench.ab` exports the baseline commit's tree (`git archive`, into the user's cache
directory, once per commit) and starts two shops of `bench.checkout`'s shape side by side: one
running the baseline's code, one running this tree's. The same storefront client (this tree's
`bench.checkout`, its mix and outcome checks) drives each in closed loops, for every round and
client count one build then the other, the order swapped every round (ABBA), so both see the
same machine. Both stay up all along, so each one's figures include the other's idle load.

The baseline defaults to the commit before issue 17 changed the shop's message path (the
benchmark's own fixes before it change no shop process). Prints this build's throughput,
latency, CPU and commits per checkout as ratios of the baseline's and writes
bench/results/ab.json (after every run).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import tarfile
from pathlib import Path

from bench.checkout import REPO, add_telemetry_argument, running_shop
from bench.interleaved import interleaved_pairs, medians, print_medians
from bench.report import write_result

PRE_ISSUE_17 = "6f1a433"
"""The commit before issue 17's first change to a shop process (12e5426, the relay)."""


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "eventshop" / "bench"


def exported_tree(revision: str) -> Path:
    """The commit's tree, exported once into the cache (a plain copy of the tracked files: no
    checkout, nothing registered in this repository)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = cache_dir() / f"tree-{commit[:12]}"
    if not (target / ".exported").exists():
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit], cwd=REPO, capture_output=True, check=True
        ).stdout
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
        (target / ".exported").write_text(commit + "\n")
    return target


def ratios(current: dict, baseline: dict) -> dict[str, float]:
    """This build's figures over the baseline's."""
    cost, base_cost = current["cost_per_checkout"], baseline["cost_per_checkout"]
    return {
        "throughput": current["sagas_per_s"] / baseline["sagas_per_s"],
        "latency_p50": current["latency_ms"]["p50"] / baseline["latency_ms"]["p50"],
        "latency_p99": current["latency_ms"]["p99"] / baseline["latency_ms"]["p99"],
        "machine_cpu_per_checkout": cost["machine_cpu_ms"] / base_cost["machine_cpu_ms"],
        "commits_per_checkout": cost["postgres_commits"] / base_cost["postgres_commits"],
        "kafka_messages_per_checkout": cost["kafka_messages"] / base_cost["kafka_messages"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", default=PRE_ISSUE_17, help="the commit to compare with")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each run")
    parser.add_argument("--clients", type=int, nargs="+", default=[16])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--api-workers", type=int, default=2, help="gunicorn workers per API")
    add_telemetry_argument(parser)
    args = parser.parse_args()
    baseline_tree = exported_tree(args.baseline)

    def save(pairs: list[dict]) -> None:
        write_result(
            "ab",
            {
                "workload": vars(args),
                "pairs": pairs,
                "current_over_baseline": medians(pairs, "current_over_baseline"),
            },
        )

    with (
        running_shop(1, args.api_workers, args.telemetry, source=baseline_tree) as baseline,
        running_shop(1, args.api_workers, args.telemetry) as current,
    ):
        pairs = interleaved_pairs(
            {"baseline": baseline, "current": current},
            clients=args.clients,
            rounds=args.rounds,
            seconds=args.seconds,
            ratios=lambda baseline_run, current_run: ratios(current_run, baseline_run),
            ratio_key="current_over_baseline",
            saved=save,
        )

    print_medians(
        f"this build / {args.baseline} (median over rounds)",
        medians(pairs, "current_over_baseline"),
    )


if __name__ == "__main__":
    main()
