"""Benchmark: search indexing throughput and end-to-end lag, on the local stack.

Workload (defaults; see --help):
- throughput: N product events (P products, each updated N/P times, full state as inventory
  publishes it) already on the products topic; a fresh faust indexer process starts and the
  clock runs until every product's newest version is searchable. Reported as events/s
  (events consumed) and documents/s (writes after the per-batch reduction).
- lag: new products published one at a time at a set rate while the indexer runs; lag is the
  time from the event's `occurred_at` (set just before publishing) to the first search that
  finds it, polled every 20 ms; p50/p99.

Prints a table and writes bench/results/search.json. Needs the local stack (`make up`).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from datetime import UTC, datetime

from bench.report import write_result
from contracts import inventory
from eventing.topics import all_topics
from testkit.scratch import scratch_topics
from testkit.search import Indexer


def event(sku: str, version: int) -> inventory.ProductUpdated:
    return inventory.ProductUpdated(
        sku=sku,
        version=version,
        name=f"Bench kettle {sku} v{version}",
        description="A kettle for benchmarks",
        category=f"cat-{version % 7}",
        price_cents=1000 + version,
        attributes={},
        stock_on_hand=10,
        stock_reserved=0,
        stock_available=10,
    )


def throughput(indexer: Indexer, events: int, products: int) -> dict[str, float]:
    per_product = events // products
    batch = []
    for version in range(1, per_product + 1):
        for n in range(products):
            batch.append(event(f"T-{n:05d}", version))
        if len(batch) >= 2000:
            indexer.publish(*batch)
            batch = []
    indexer.publish(*batch)
    started = time.perf_counter()
    indexer.start()
    query = {
        "query": {
            "bool": {"filter": [{"prefix": {"sku": "T-"}}, {"term": {"version": per_product}}]}
        },
        "size": 0,
    }
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        response = indexer.index.search(query)
        if response and response["hits"]["total"]["value"] >= products:
            break
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    return {
        "events": per_product * products,
        "products": products,
        "seconds": elapsed,
        "events_per_s": per_product * products / elapsed,
        "note": "includes the indexer's start-up and first group join",
    }


def lag(indexer: Indexer, rate: float, seconds: float) -> dict[str, float]:
    total = int(rate * seconds)
    published: dict[str, datetime] = {}
    seen: dict[str, datetime] = {}
    done = threading.Event()

    def poll() -> None:
        while not done.is_set() or len(seen) < len(published):
            response = indexer.index.search(
                {"query": {"prefix": {"sku": "L-"}}, "size": 10000, "_source": ["sku"]}
            )
            now = datetime.now(UTC)
            for hit in (response or {"hits": {"hits": []}})["hits"]["hits"]:
                seen.setdefault(hit["_source"]["sku"], now)
            if done.is_set() and time.monotonic() > give_up:
                return
            time.sleep(0.02)

    give_up = float("inf")
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    started = time.perf_counter()
    for n in range(total):
        sku = f"L-{n:05d}"
        published[sku] = datetime.now(UTC)
        indexer.publish(event(sku, 1))
        pause = started + (n + 1) / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    give_up = time.monotonic() + 30
    done.set()
    poller.join(40)
    lags = sorted(
        (seen[sku] - at).total_seconds() * 1000 for sku, at in published.items() if sku in seen
    )
    return {
        "rate_per_s": rate,
        "events": total,
        "found": len(lags),
        "p50_ms": statistics.median(lags),
        "p99_ms": lags[int(0.99 * (len(lags) - 1))],
        "max_ms": lags[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=20.0, help="updates/s in the lag run")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    indexer = Indexer()
    with scratch_topics(indexer.kafka, all_topics()):
        try:
            indexed = throughput(indexer, args.events, args.products)
            latency = lag(indexer, args.rate, args.seconds)
        finally:
            indexer.close()
    path = write_result("search", {"workload": vars(args), "throughput": indexed, "lag": latency})
    print(f"{'measure':46} {'value':>14}")
    print(f"{'indexing throughput (events/s)':46} {indexed['events_per_s']:14,.0f}")
    print(
        f"{'  events / products / seconds':46} "
        f"{indexed['events']:>6}/{indexed['products']}/{indexed['seconds']:.1f}"
    )
    print(
        f"{f'lag p50 / p99 at {args.rate:.0f} updates/s (ms)':46} "
        f"{latency['p50_ms']:6.0f} /{latency['p99_ms']:6.0f}"
    )
    print(f"{'  found':46} {latency['found']:>6}/{latency['events']}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
