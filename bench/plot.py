"""bench/results/bench.png from the JSON the benchmarks wrote (`python -m bench.plot`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or a server

import matplotlib.pyplot as plt

from bench.report import RESULTS, read_result


def _closed_sweep(ax, checkout: dict) -> None:
    closed = [r for r in checkout["runs"] if r["mode"] == "closed"]
    clients = [r["clients"] for r in closed]
    ax.plot(clients, [r["sagas_per_s"] for r in closed], "o-", color="tab:blue")
    ax.set_xlabel("concurrent clients (closed loop)")
    ax.set_ylabel("completed checkouts/s", color="tab:blue")
    ax.set_xscale("log", base=2)
    ax.set_xticks(clients, [str(c) for c in clients])
    latency = ax.twinx()
    for key, style in (("p50", "s--"), ("p99", "^:")):
        latency.plot(
            clients, [r["latency_ms"][key] for r in closed], style, color="tab:red", label=key
        )
    latency.set_ylabel("latency ms", color="tab:red")
    latency.legend(loc="upper left")
    ax.set_title("Closed loop: throughput and latency")


def _latency_bars(ax, checkout: dict) -> None:
    runs = checkout["runs"]
    labels = [
        f"closed\n{r['clients']}" if r["mode"] == "closed" else f"open\n{r['arrival_rate_per_s']}/s"
        for r in runs
    ]
    width = 0.27
    for n, key in enumerate(("p50", "p95", "p99")):
        xs = [i + (n - 1) * width for i in range(len(runs))]
        ax.bar(xs, [r["latency_ms"][key] for r in runs], width, label=key)
    ax.set_xticks(range(len(runs)), labels)
    ax.set_ylabel("POST to terminal status, ms")
    ax.legend()
    ax.set_title("Checkout latency per run")


def _scaling(ax, checkout: dict) -> None:
    scaling = checkout["scaling"]
    ax.bar(
        [str(s["workers"]) for s in scaling], [s["sagas_per_s"] for s in scaling], color="tab:green"
    )
    ax.set_xlabel("worker processes per service")
    ax.set_ylabel("completed checkouts/s")
    ax.set_title(f"Scaling ({scaling[0]['clients']} clients)")


def _cpu(ax, checkout: dict) -> None:
    best = max(
        (r for r in checkout["runs"] if r["mode"] == "closed"), key=lambda r: r["sagas_per_s"]
    )
    groups = sorted(best["cost_per_checkout"]["cpu_ms_by_group"].items(), key=lambda x: x[1])
    groups = [(g, ms) for g, ms in groups if ms >= 0.5]
    ax.barh([g for g, _ in groups], [ms for _, ms in groups], color="tab:purple")
    ax.set_xlabel("CPU ms per checkout")
    ax.set_title(f"Where a checkout's CPU goes ({best['clients']} clients)")


def plot(path: Path = RESULTS / "bench.png") -> Path | None:
    checkout = read_result("checkout")
    if checkout is None:
        return None
    figure, axes = plt.subplots(2, 2, figsize=(13, 9))
    _closed_sweep(axes[0][0], checkout)
    _latency_bars(axes[0][1], checkout)
    _scaling(axes[1][0], checkout)
    _cpu(axes[1][1], checkout)
    machine = checkout["machine"]
    subtitle = f"{machine['cores']} cores, {machine['memory_gib']} GiB; {checkout['at'][:16]}Z"
    search = read_result("search")
    if search is not None:
        lag = search["lag"]
        subtitle += f"; search lag p50/p99 {lag['p50_ms']:.0f}/{lag['p99_ms']:.0f} ms"
    figure.suptitle(f"eventshop checkout benchmark: {subtitle}")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


if __name__ == "__main__":
    print(f"written to {plot()}")
