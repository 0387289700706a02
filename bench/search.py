"""Benchmark: search indexing throughput and end-to-end lag, on the local stack.

Workload (defaults; see --help):
- throughput: N product events (P products, each updated N/P times, full state as inventory
  publishes it) already on the products topic; a fresh faust indexer process starts and the
  clock runs until every product's newest version is searchable. Reported as events/s
  (events consumed) and documents/s (writes after the per-batch reduction).
- Elasticsearch's own bulk rate, beside it: the same documents (the indexer's own bulk
  actions, external versions included) written straight to a scratch index of the same mapping
  by the Python client's bulk helper, 500 to a request, from one client as the indexer is:
  what the indexer's throughput is a fraction of.
- lag: a shop of real processes (inventory's API, worker and outbox relay among them) and an
  indexer on its topics; M existing products updated by `PATCH /products/{sku}` at a set rate
  (open loop: each update is sent at its scheduled time from a pool of clients, whatever the
  earlier ones are doing; the rate achieved is reported beside the one asked for); lag is the
  time from the PATCH's answer (the change and its outbox row committed) to the first search
  (polled every 20 ms) showing that version or a later one; p50/p99.

Prints a table and writes bench/results/search.json. Needs the local stack (`make up`).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import requests

from bench.report import write_result
from contracts import inventory
from eventing.topics import all_topics
from search_indexer.documents import bulk_action
from search_indexer.index import ProductIndex
from testkit.scratch import scratch_topics
from testkit.search import Indexer
from testkit.shop import ADMIN, ShopOptions, run_shop

LAG_CLIENTS = 16
"""Client threads sending the lag run's updates: enough that 200/s is not held back by one
client waiting for each answer."""


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


def throughput(indexer: Indexer, events: int, products: int) -> dict[str, float | str]:
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


def elasticsearch_bulk(index: ProductIndex, events: int, products: int) -> dict[str, float]:
    """The same documents as the throughput run, written straight to Elasticsearch in bulk
    requests of 500 through the indexer's own adapter, until searchable (refreshed)."""
    per_product = events // products
    actions = [
        bulk_action(event(f"T-{n:05d}", version), index.alias)
        for version in range(1, per_product + 1)
        for n in range(products)
    ]
    index.ensure()
    started = time.perf_counter()
    for first in range(0, len(actions), 500):
        rejected = index.write(actions[first : first + 500])
        assert not rejected, rejected[:3]
    index.refresh()
    elapsed = time.perf_counter() - started
    return {
        "documents": len(actions),
        "seconds": elapsed,
        "documents_per_s": len(actions) / elapsed,
    }


def lag(rate: float, seconds: float, products: int) -> dict[str, float]:
    """Updates of existing products through the real inventory service, at `rate`; each lag
    runs from the moment its PATCH was answered (the change committed with its outbox row)
    to the first search that shows that version or a later one."""
    with ExitStack() as stack:
        shop = run_shop(stack, ShopOptions())
        indexer = Indexer(kafka=shop.kafka)
        stack.callback(indexer.close)
        indexer.start()
        http = requests.Session()
        skus = [f"L-{uuid.uuid4().hex[:6]}-{n:03d}" for n in range(products)]
        for sku in skus:
            shop.post_product(sku, stock=10, category="bench", http=http).raise_for_status()
        indexer.wait_for(
            lambda: len(indexer.indexed_versions(skus)) == products,
            "the products to update are searchable",
            timeout_s=120,
        )
        return _measure_lag(shop, indexer, http, skus, rate, seconds)


def _measure_lag(shop, indexer, http, skus, rate, seconds) -> dict[str, float]:
    total = int(rate * seconds)
    committed: dict[tuple[str, int], float] = {}
    seen: dict[tuple[str, int], float] = {}
    lock = threading.Lock()
    done = threading.Event()

    def poll() -> None:
        give_up = None
        while True:
            versions = indexer.indexed_versions(skus)
            now = time.perf_counter()
            with lock:
                for sku, version in committed.keys() - seen.keys():
                    if versions.get(sku, 0) >= version:
                        seen[(sku, version)] = now
                caught_up = len(seen) == len(committed)
            if done.is_set():
                give_up = give_up or time.monotonic() + 30
                if caught_up or time.monotonic() > give_up:
                    return
            time.sleep(0.02)

    sessions = threading.local()

    def update(n: int) -> None:
        sku = skus[n % len(skus)]
        if not hasattr(sessions, "http"):
            sessions.http = requests.Session()
        response = sessions.http.patch(
            f"{shop.inventory_url}/products/{sku}",
            headers=ADMIN,
            timeout=30,
            json={"name": f"Lag kettle {sku} update {n}"},
        )
        answered = time.perf_counter()
        response.raise_for_status()
        with lock:
            committed[(sku, response.json()["version"])] = answered

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=LAG_CLIENTS) as clients:
        sent = []
        for n in range(total):
            pause = started + n / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sent.append(clients.submit(update, n))
        for future in sent:
            future.result()
    sending_s = time.perf_counter() - started
    done.set()
    poller.join(40)
    lags = sorted((seen[key] - at) * 1000 for key, at in committed.items() if key in seen)
    return {
        "rate_per_s": rate,
        "achieved_rate_per_s": total / sending_s,
        "events": total,
        "products": len(skus),
        "found": len(lags),
        "p50_ms": statistics.median(lags),
        "p99_ms": lags[int(0.99 * (len(lags) - 1))],
        "max_ms": lags[-1],
        "from": "inventory PATCH answered (committed with its outbox row) to searchable",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=200.0, help="updates/s in the lag run")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--lag-products", type=int, default=50, help="existing products the lag run updates"
    )
    args = parser.parse_args()
    indexer = Indexer()
    with scratch_topics(indexer.kafka, all_topics()):
        try:
            indexed = throughput(indexer, args.events, args.products)
        finally:
            indexer.close()
    bulk_index = ProductIndex(indexer.index.es, f"bench-bulk-{uuid.uuid4().hex[:8]}")
    try:
        direct = elasticsearch_bulk(bulk_index, args.events, args.products)
    finally:
        for name in bulk_index.indices_behind_alias():
            bulk_index.delete_index(name)
    ratio = float(indexed["events_per_s"]) / direct["documents_per_s"]
    latency = lag(args.rate, args.seconds, args.lag_products)
    path = write_result(
        "search",
        {
            "workload": vars(args),
            "throughput": indexed,
            "elasticsearch_bulk": direct,
            "indexer_over_elasticsearch_bulk": ratio,
            "lag": latency,
        },
    )
    print(f"{'measure':46} {'value':>14}")
    print(f"{'indexing throughput (events/s)':46} {indexed['events_per_s']:14,.0f}")
    print(
        f"{'  events / products / seconds':46} "
        f"{indexed['events']:>6}/{indexed['products']}/{indexed['seconds']:.1f}"
    )
    print(f"{'Elasticsearch bulk, same documents (docs/s)':46} {direct['documents_per_s']:14,.0f}")
    print(f"{'  indexer / Elasticsearch bulk':46} {ratio:14.2f}")
    print(
        f"{f'lag p50 / p99 at {args.rate:.0f} updates/s (ms)':46} "
        f"{latency['p50_ms']:6.0f} /{latency['p99_ms']:6.0f}"
    )
    print(f"{'  found':46} {latency['found']:>6}/{latency['events']}")
    print(f"{'  rate achieved (updates/s)':46} {latency['achieved_rate_per_s']:14.1f}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
