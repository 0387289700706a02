"""Where a checkout's CPU goes: py-spy samples every shop process during a closed-loop run.

Starts a shop as `bench.checkout` does, runs C clients for D seconds, and records each shop
process (gunicorn workers included) with py-spy at a modest rate and `--gil`: only the thread
holding the GIL is sampled, so the shares are of Python's own CPU work (and of C extensions that
keep the GIL), not of waits on PostgreSQL or Kafka with the GIL released. Writes the collapsed
stacks (`bench/results/profile/<process>.txt`, for flamegraph tools or speedscope) and prints, per
process, its CPU ms per checkout and the functions with the largest inclusive share of its
samples, so the hottest path is named in the output.

`python -m bench.profile [--clients 16] [--seconds 20]`; py-spy needs ptrace (root, or
`kernel.yama.ptrace_scope=0`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.checkout import running_shop
from bench.report import RESULTS, print_table, write_result

PROFILES = RESULTS / "profile"


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy not found: run `uv sync` (it is a dev dependency)")
    return found


def hottest(collapsed: Path, top: int) -> dict[str, list[tuple[str, float]]]:
    """Functions by inclusive share of samples (each counted once per stack) and by own share
    (the sampled frame itself), in percent of the process's samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        # py-spy's root frame names the process by pid and command line (this machine's
        # paths): it is every sample's, says nothing, and is left out.
        frames = [frame for frame in stack.split(";") if not frame.startswith("process ")]
        if not frames:
            continue
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, 100 * n / total) for frame, n in counter.most_common(top)]

    return {"inclusive": shares(inclusive), "own": shares(own)} if total else {}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=50, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    PROFILES.mkdir(parents=True, exist_ok=True)

    with running_shop(workers=1, api_workers=2) as bench:
        recorders = {}
        for name, process in bench.shop.processes.items():
            output = PROFILES / f"{name.replace(':', '-')}.txt"
            recorders[name] = (
                output,
                subprocess.Popen(
                    [
                        py_spy(),
                        "record",
                        "--pid",
                        str(process.pid),
                        "--subprocesses",
                        "--rate",
                        str(args.rate),
                        "--duration",
                        str(int(args.seconds) + 2),
                        "--format",
                        "raw",
                        "--output",
                        str(output),
                        "--nonblocking",
                        "--gil",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
            )
        run = bench.closed_loop(args.clients, args.seconds)
        for _, recorder in recorders.values():
            recorder.wait(timeout=120)

    cpu = run["cost_per_checkout"]["cpu_ms_by_group"]
    report = {}
    for name, (output, _) in recorders.items():
        functions = hottest(output, args.top) if output.exists() else {}
        report[name] = {"cpu_ms_per_checkout": cpu.get(name, 0.0), "hottest": functions}
    print_table(
        f"profile: closed loop, {args.clients} clients, {run['sagas_per_s']:.1f} checkouts/s",
        [
            (group, f"{ms:.1f} ms/checkout")
            for group, ms in sorted(cpu.items(), key=lambda x: -x[1])
        ],
    )
    for name, entry in sorted(report.items(), key=lambda x: -x[1]["cpu_ms_per_checkout"]):
        print(f"\n{name}: {entry['cpu_ms_per_checkout']:.1f} ms CPU per checkout")
        for kind, functions in entry["hottest"].items():
            print(f"  by {kind} samples:")
            for frame, share in functions:
                print(f"    {share:5.1f}%  {frame}")
    path = write_result("profile", {"workload": vars(args), "run": run, "processes": report})
    print(f"\nwritten to {path} and {PROFILES}/")


if __name__ == "__main__":
    main()
