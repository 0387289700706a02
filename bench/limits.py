"""This machine's limits, measured on the stack the shop runs on, for the other benchmarks to be
read against.

- Kafka: N messages of ~300 bytes produced with the project's producer settings (idempotent,
  acks=all, lz4) to a 3-partition topic, then consumed by one consumer, timed from `subscribe`.
- PostgreSQL: single-row inserts, each committed on its own (so each one waits for its WAL
  flush: the cluster runs with `synchronous_commit=on`, as every effect of the shop needs), from
  1, 4 and 8 connections at once; more connections show what group commit adds when several
  processes commit together. Measured as PostgreSQL can do it, with `pgbench` (the cluster's
  own client, prepared statements, a thread per connection): the bound. The same inserts
  through Python (SQLAlchemy, one thread per connection in one process) are measured beside
  it for reference: that rate is the client's, not the server's.

`python -m bench.limits` prints a table and writes bench/results/limits.json.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

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


COMMITS = sa.Table(
    "commits",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("payload", sa.Text, nullable=False),
)
PGBENCH_SCRIPT = "INSERT INTO commits (payload) VALUES (repeat('x', 100));\n"


def pgbench() -> str | None:
    """PATH's pgbench, else the newest under Debian's server binaries; None: not installed."""
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))
    return str(candidates[-1]) if candidates else None


def pgbench_commit_rate(program: str, seconds: float, connections: int) -> dict[str, float]:
    """Committed single-row inserts per second, by pgbench over `connections` connections."""
    with scratch_database(pool_size=1) as engine, tempfile.TemporaryDirectory() as folder:
        COMMITS.metadata.create_all(engine)
        script = Path(folder) / "insert.sql"
        script.write_text(PGBENCH_SCRIPT)
        done = subprocess.run(
            [
                program,
                *("--no-vacuum", "--protocol", "prepared", "--file", str(script)),
                *("--client", str(connections), "--jobs", str(connections)),
                *("--time", str(max(1, round(seconds)))),
                engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    assert tps, f"pgbench said: {done.stdout}{done.stderr}"
    return {"connections": connections, "commits_per_s": float(tps.group(1))}


def python_commit_rate(seconds: float, connections: int) -> dict[str, float]:
    """The same inserts through SQLAlchemy, a thread per connection in this process."""
    with scratch_database(pool_size=connections) as engine:
        COMMITS.metadata.create_all(engine)
        counts = [0] * connections
        stop = threading.Event()

        def commit_loop(slot: int) -> None:
            with engine.connect() as connection:
                while not stop.is_set():
                    connection.execute(COMMITS.insert().values(payload="x" * 100))
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


CONNECTIONS = (1, 4, 8)


def measure(settings: KafkaSettings, messages: int, seconds: float) -> dict:
    kafka = kafka_limits(settings, messages)
    program = pgbench()
    through_python = [python_commit_rate(seconds, n) for n in CONNECTIONS]
    if program is None:
        print("pgbench not found: the PostgreSQL bound is the rate through Python", flush=True)
    postgres = (
        [pgbench_commit_rate(program, seconds, n) for n in CONNECTIONS]
        if program
        else through_python
    )
    return {
        "kafka": {**kafka, "messages": messages},
        "postgres_client": "pgbench" if program else "python",
        "postgres": postgres,
        "postgres_through_python": through_python,
        "postgres_best_commits_per_s": max(p["commits_per_s"] for p in postgres),
    }


def print_limits(limits: dict) -> None:
    rows = [
        ("raw confluent-kafka produce (msg/s)", f"{limits['kafka']['produce_per_s']:,.0f}"),
        ("raw confluent-kafka consume (msg/s)", f"{limits['kafka']['consume_per_s']:,.0f}"),
    ]
    client = limits.get("postgres_client", "python")
    rows += [
        (
            f"PostgreSQL commits/s ({client}), {p['connections']} connection(s)",
            f"{p['commits_per_s']:,.0f}",
        )
        for p in limits["postgres"]
    ]
    rows += [
        (
            f"PostgreSQL commits/s (through Python), {p['connections']} connection(s)",
            f"{p['commits_per_s']:,.0f}",
        )
        for p in limits.get("postgres_through_python", [])
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
