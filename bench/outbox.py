"""Benchmark: the outbox -> relay -> Kafka -> idempotent consumer path against raw
confluent-kafka on the same broker, in one run.

Workload (defaults; see --help):
- raw baseline: N messages of ~300 bytes produced with the project's producer settings
  (idempotent, acks=all, lz4) to a 3-partition topic, then consumed by one consumer.
- outbox throughput: the same N events already committed in an outbox (100 aggregates),
  published by one relay and applied by one EventConsumer whose handler claims the inbox and
  writes one row per event, each in its own transaction.
- outbox latency: events written one per transaction at a fixed rate while relay and consumer
  run; latency = applied time - occurred_at (the envelope's timestamp at write time).

Prints a table and writes bench/results/outbox.json. Needs the local stack (`make up`).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine, insert

from bench.limits import kafka_limits
from bench.report import write_result
from eventing.config import KafkaSettings
from eventing.consumer import EventConsumer
from eventing.inbox import Inbox
from eventing.outbox import OutboxRelay, unpublished_count
from eventing.producer import KafkaPublisher
from testkit import ledger
from testkit.scratch import scratch_database, scratch_topics, topic_with_dead_letters


class _Applied:
    """An inbox-guarded handler that remembers when each event was applied."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.inbox = Inbox(ledger.inbox_rows, "bench")
        self.latencies: list[float] = []
        self.count = 0

    def __call__(self, decoded) -> None:
        event = decoded.event
        with self.engine.begin() as connection:
            if not self.inbox.claim(connection, decoded.envelope.event_id, decoded.envelope.type):
                return
            connection.execute(
                insert(ledger.applied).values(
                    account_id=event.account_id, seq=event.seq, amount_cents=event.amount_cents
                )
            )
        self.latencies.append(
            (datetime.now(UTC) - decoded.envelope.occurred_at).total_seconds() * 1000
        )
        self.count += 1


def _write_events(engine, topic: str, count: int, per_transaction: int = 100) -> None:
    for start in range(0, count, per_transaction):
        with engine.begin() as connection:
            for seq in range(start, min(count, start + per_transaction)):
                event = ledger.EntryAdded(account_id=f"acct-{seq % 100}", seq=seq, amount_cents=1)
                ledger.outbox.add(connection, topic, ledger.envelope_for(event))


def _run_pipeline(settings, engine, topic, handler):
    stop = threading.Event()
    relay = OutboxRelay(engine, ledger.outbox, KafkaPublisher(settings), batch_size=1000)
    consumer = EventConsumer(
        settings,
        group_id=f"bench-{uuid.uuid4().hex}",
        topics=[topic],
        handler=handler,
        registry=ledger.registry,
    )
    threads = [
        threading.Thread(target=relay.run, args=(stop,), daemon=True),
        threading.Thread(target=consumer.run, args=(stop,), daemon=True),
    ]
    for thread in threads:
        thread.start()
    return stop, threads


def outbox_throughput(settings: KafkaSettings, count: int) -> dict[str, float]:
    with (
        scratch_database() as engine,
        scratch_topics(settings, topic_with_dead_letters()) as (topic, _),
    ):
        ledger.metadata.create_all(engine)
        _write_events(engine, topic, count)
        handler = _Applied(engine)
        started = time.perf_counter()
        stop, threads = _run_pipeline(settings, engine, topic, handler)
        deadline = time.monotonic() + 300
        while handler.count < count and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        stop.set()
        for thread in threads:
            thread.join(30)
        assert unpublished_count(engine, ledger.outbox.table) == 0
    return {"events_per_s": handler.count / elapsed, "applied": handler.count}


def outbox_latency(settings: KafkaSettings, rate: float, seconds: float) -> dict[str, float]:
    with (
        scratch_database() as engine,
        scratch_topics(settings, topic_with_dead_letters()) as (topic, _),
    ):
        ledger.metadata.create_all(engine)
        handler = _Applied(engine)
        stop, threads = _run_pipeline(settings, engine, topic, handler)
        time.sleep(3)  # let the consumer join its group before measuring
        total = int(rate * seconds)
        started = time.perf_counter()
        for seq in range(total):
            ledger.add_entry(engine, topic, f"acct-{seq % 100}", seq)
            pause = started + (seq + 1) / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        deadline = time.monotonic() + 60
        while handler.count < total and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join(30)
    latencies = sorted(handler.latencies)
    return {
        "rate_per_s": rate,
        "events": total,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
        "max_ms": latencies[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=200.0, help="events/s in the latency run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency run")
    args = parser.parse_args()
    settings = KafkaSettings.from_env(client_id="eventshop-bench")

    raw = kafka_limits(settings, args.events)
    ours = outbox_throughput(settings, args.events)
    latency = outbox_latency(settings, args.rate, args.seconds)
    result = {
        "workload": vars(args),
        "raw_kafka": raw,
        "outbox_to_consumer": ours,
        "ratio_outbox_vs_raw_consume": ours["events_per_s"] / raw["consume_per_s"],
        "ratio_outbox_vs_raw_produce": ours["events_per_s"] / raw["produce_per_s"],
        "latency": latency,
    }
    path = write_result("outbox", result)
    print(f"{'measure':44} {'value':>12}")
    print(f"{'raw confluent-kafka produce (msg/s)':44} {raw['produce_per_s']:12,.0f}")
    print(f"{'raw confluent-kafka consume (msg/s)':44} {raw['consume_per_s']:12,.0f}")
    print(f"{'outbox -> relay -> consumer+inbox (events/s)':44} {ours['events_per_s']:12,.0f}")
    print(f"{'ratio ours / raw consume':44} {result['ratio_outbox_vs_raw_consume']:12.3f}")
    print(f"{'ratio ours / raw produce':44} {result['ratio_outbox_vs_raw_produce']:12.3f}")
    print(
        f"{f'latency p50 / p99 at {args.rate:.0f} ev/s (ms)':44} "
        f"{latency['p50_ms']:6.1f} /{latency['p99_ms']:6.1f}"
    )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
