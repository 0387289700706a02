"""This machine's limits, measured on the stack the shop runs on, for the other benchmarks to be
read against.

- Kafka: N messages of ~300 bytes produced with the project's producer settings (idempotent,
  acks=all, lz4) to a 3-partition topic, then consumed by one consumer, timed from `subscribe`.
- PostgreSQL: single-row inserts, each committed on its own (so each one waits for its WAL
  flush, as every effect of the shop does), from 1 and from 4 connections at once; the second
  shows what group commit adds when several processes commit together.

`python -m bench.limits` prints a table and writes bench/results/limits.json.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

import sqlalchemy as sa
from confluent_kafka import Consumer, Producer

from bench.report import print_table, write_result
from eventing.config import KafkaSettings
from eventing.producer import producer_config
from testkit.scratch import scratch_database, scratch_topics, topic_with_dead_letters


def kafka_limits(settings: KafkaSettings, count: int) -> dict[str, float]:
    with scratch_topics(settings, topic_with_dead_letters()) as (topic, _):
        producer = Producer(producer_config(settings))
        value = b"x" * 300
        started = time.perf_counter()
        for n in range(count):
            while True:
                try:
                    producer.produce(topic, key=f"acct-{n % 100}".encode(), value=value)
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.flush(60)
        produce_s = time.perf_counter() - started

        consumer = Consumer(
            {
                **settings.client_config(),
                "group.id": f"bench-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        started = time.perf_counter()  # from subscribe: joining the group counts, as for ours
        consumer.subscribe([topic])
        received = 0
        deadline = time.monotonic() + 120
        while received < count and time.monotonic() < deadline:
            received += sum(1 for m in consumer.consume(1000, timeout=0.5) if m.error() is None)
        consume_s = time.perf_counter() - started
        consumer.close()
    return {"produce_per_s": count / produce_s, "consume_per_s": received / consume_s}


def postgres_commit_rate(seconds: float, connections: int) -> dict[str, float]:
    """Committed single-row inserts per second over `connections` connections at once."""
    with scratch_database(pool_size=connections) as engine:
        table = sa.Table(
            "commits",
            sa.MetaData(),
            sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
            sa.Column("payload", sa.Text, nullable=False),
        )
        table.metadata.create_all(engine)
        counts = [0] * connections
        stop = threading.Event()

        def commit_loop(slot: int) -> None:
            with engine.connect() as connection:
                while not stop.is_set():
                    connection.execute(table.insert().values(payload="x" * 100))
                    connection.commit()
                    counts[slot] += 1

        threads = [threading.Thread(target=commit_loop, args=(n,)) for n in range(connections)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join(30)
        elapsed = time.perf_counter() - started
    return {"connections": connections, "commits_per_s": sum(counts) / elapsed}


def measure(settings: KafkaSettings, messages: int, seconds: float) -> dict:
    kafka = kafka_limits(settings, messages)
    postgres = [postgres_commit_rate(seconds, n) for n in (1, 4)]
    return {
        "kafka": {**kafka, "messages": messages},
        "postgres": postgres,
        "postgres_best_commits_per_s": max(p["commits_per_s"] for p in postgres),
    }


def print_limits(limits: dict) -> None:
    rows = [
        ("raw confluent-kafka produce (msg/s)", f"{limits['kafka']['produce_per_s']:,.0f}"),
        ("raw confluent-kafka consume (msg/s)", f"{limits['kafka']['consume_per_s']:,.0f}"),
    ]
    rows += [
        (f"PostgreSQL commits/s, {p['connections']} connection(s)", f"{p['commits_per_s']:,.0f}")
        for p in limits["postgres"]
    ]
    print_table("machine limits", rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="per PostgreSQL run")
    args = parser.parse_args()
    limits = measure(
        KafkaSettings.from_env(client_id="eventshop-bench"), args.messages, args.seconds
    )
    print_limits(limits)
    print(f"written to {write_result('limits', {'workload': vars(args), **limits})}")


if __name__ == "__main__":
    main()
