"""Checkout benchmark: storefront clients against a whole shop of real processes.

Each run starts its own shop (every service's API under gunicorn and worker, the saga
orchestrator; scratch databases and topics of its own, 4 partitions per topic) on the local
stack, seeds a catalogue, and drives `POST /orders` with a fixed mix of checkouts:

- 80% approved (an in-stock product, `tok_visa`),
- 10% declined (`tok_declined`: the stock is reserved, then released),
- 10% out of stock (2 units of a product that has 1).

A checkout ends when the order's terminal event (OrderApproved or OrderRejected) is on the
orders topic; the benchmark reads that topic instead of polling the API, so clients add no read
load, and latency is from just before the POST (or, open-loop, from the arrival's scheduled time,
so a slow shop is not let off by late arrivals) to the event's `occurred_at`, which is set in the
transaction that changed the order's status. Every outcome is checked against its kind.

- Closed loop: C clients, each placing its next order when the previous one ended, for a sweep
  of C; the best throughput is the shop's maximum.
- Open loop: arrivals at a set rate (a fraction of that maximum), whatever the shop's progress.
- Costs: Kafka messages (sum of end offsets over the shop's topics), PostgreSQL write
  transactions (the cluster's transaction id counter) and total commits (read-only ones too:
  `pg_stat_database.xact_commit` of the shop's own databases) per checkout, the machine's CPU
  ms per checkout (`/proc/stat`, every process on the machine), and CPU ms per checkout by
  process group (shop services, Kafka, PostgreSQL, this client), from the closed-loop runs. A
  process's CPU is counted from its own counters read before and after (one started mid-run
  counts from zero; one that exited mid-run is left out and counted in
  `processes_exited_mid_run`), so no group's figure goes negative.
- Scaling: the best closed loop again with 2 and 4 worker processes per service.
- Telemetry: spans and metrics exported over OTLP to the local Jaeger, as `make up` does
  (`--telemetry none`: recorded, not exported).

Results are written after every run, so a part that fails later loses nothing measured before.

`python -m bench.checkout` prints tables and writes bench/results/checkout.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, cast

import psutil
import requests
import sqlalchemy as sa
from confluent_kafka import Consumer, TopicPartition

from bench.report import RESULTS, print_table, write_result
from eventing.config import KafkaSettings
from eventing.kafka_offsets import end_offsets
from eventing.topics import ORDERS, all_topics
from testkit.shop import REPO, SERVICES, Shop, ShopOptions, run_shop

PARTITIONS = 4
CATALOGUE_SIZE = 50
#: How each kind of checkout must end: the terminal event's type and rejection reason.
EXPECTED = {
    "approved": ("OrderApproved", None),
    "declined": ("OrderRejected", "PAYMENT_DECLINED"),
    "insufficient_funds": ("OrderRejected", "INSUFFICIENT_FUNDS"),
    "timeout": ("OrderRejected", "TIMEOUT"),
    "out_of_stock": ("OrderRejected", "OUT_OF_STOCK"),
}
PAYMENT_METHODS = {
    "approved": "tok_visa",
    "declined": "tok_declined",
    "insufficient_funds": "tok_insufficient_funds",
    "timeout": "tok_timeout",  # the processor never answers: the saga times out
    "out_of_stock": "tok_visa",
}
MIX = ["approved"] * 8 + ["declined", "out_of_stock"]
#: `--telemetry`: what the shop does with its spans and metrics.
TELEMETRY = {
    "otlp": {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "otlp"},  # as `make up`
    "none": {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"},
}


@dataclass
class Checkout:
    kind: str
    started_at: float
    order_id: str = ""
    ended_at: float | None = None
    outcome: tuple[str, str | None] | None = None

    @property
    def latency_ms(self) -> float:
        assert self.ended_at is not None
        return (self.ended_at - self.started_at) * 1000


class OutcomeListener:
    """Tails the orders topic from its current end and tells waiters how each order ended."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._topic = settings.qualify(ORDERS)
        self._consumer = Consumer(
            {
                **settings.client_config(),
                "group.id": f"bench-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        ends = end_offsets(settings, [self._topic])[self._topic]
        self._consumer.assign(
            [TopicPartition(self._topic, p, offset) for p, offset in ends.items()]
        )
        self._outcomes: dict[str, tuple[float, tuple[str, str | None]]] = {}
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ended = []
            for message in self._consumer.consume(500, timeout=0.1):
                if message.error() is not None:
                    continue
                envelope = json.loads(cast(bytes, message.value()))  # events are never tombstones
                if envelope["type"] in ("OrderApproved", "OrderRejected"):
                    at = _timestamp(envelope["occurred_at"])
                    reason = envelope["payload"].get("reason")
                    ended.append((envelope["aggregate_id"], at, (envelope["type"], reason)))
            if ended:
                with self._changed:
                    for order_id, at, outcome in ended:
                        self._outcomes[order_id] = (at, outcome)
                    self._changed.notify_all()
        self._consumer.close()

    def wait(self, checkout: Checkout, timeout_s: float) -> None:
        with self._changed:
            found = self._changed.wait_for(
                lambda: checkout.order_id in self._outcomes, timeout=timeout_s
            )
            if found:
                checkout.ended_at, checkout.outcome = self._outcomes[checkout.order_id]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


class Store(Protocol):
    """What a storefront orders from: the shop, or the monolith baseline (`bench.monolith`)."""

    @property
    def order_url(self) -> str: ...

    def customer_headers(self, customer_id: str) -> dict[str, str]: ...

    def post_product(
        self, sku: str, *, stock: int, category: str, http: requests.Session | None = None
    ) -> requests.Response: ...


class Storefront:
    """The storefront's side of the HTTP contract, one keep-alive session per thread."""

    def __init__(self, shop: Store, skus: list[str], scarce_sku: str | None = None) -> None:
        """Orders of every kind but `out_of_stock` take one unit of the next of `skus`; those
        of `out_of_stock` two of `scarce_sku` (a product with one)."""
        self._shop = shop
        self._skus = skus
        self._scarce = scarce_sku
        self._local = threading.local()
        self._next = itertools.count()
        self._sku_cycle = itertools.cycle(skus)
        self._sku_lock = threading.Lock()

    @property
    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def order_body(self, kind: str) -> dict:
        n = next(self._next)
        if kind == "out_of_stock":
            assert self._scarce is not None, "out_of_stock checkouts need a scarce sku"
            sku, quantity = self._scarce, 2
        else:
            with self._sku_lock:
                sku, quantity = next(self._sku_cycle), 1
        return {
            "customer_id": self.customer_of(n),
            "payment_method": PAYMENT_METHODS[kind],
            "items": [{"sku": sku, "quantity": quantity}],
        }

    @staticmethod
    def customer_of(n: int) -> str:
        """A hundred customers share the load, each far below the per-customer rate limit."""
        return f"bench-{n % 100}"

    def place(
        self, checkout: Checkout, deadline: float | None = None, *, ride_out_outages: bool = False
    ) -> dict:
        """POST /orders, and its answer's body; while the order service has not heard of a
        sku yet (422), retry until `deadline` (monotonic). With `ride_out_outages`, also retry
        until then while the order service cannot answer (connection refused or timed out, or a
        5xx), as a storefront would through a restart: the Idempotency-Key makes every resend
        the same order."""
        attempts = itertools.count()
        body = self.order_body(checkout.kind)
        key = str(uuid.uuid4())
        headers = {"Idempotency-Key": key, **self._shop.customer_headers(body["customer_id"])}
        while True:
            try:
                response = self._session.post(
                    f"{self._shop.order_url}/orders",
                    json=body,
                    headers=headers,
                    timeout=30,
                )
            except requests.RequestException as error:
                if ride_out_outages and deadline is not None and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                if not isinstance(error, requests.ConnectionError) or next(attempts) >= 3:
                    raise
                # A kept-alive connection the server closed meanwhile: the idempotency key
                # makes sending again safe, as it is for any storefront.
                continue
            if response.status_code in (200, 201, 202):
                answer = response.json()
                checkout.order_id = answer["order_id"]
                return answer
            retriable = response.status_code == 422 or (
                ride_out_outages and response.status_code >= 500
            )
            if not retriable or deadline is None or time.monotonic() > deadline:
                raise RuntimeError(f"POST /orders: {response.status_code} {response.text}")
            time.sleep(0.2 if response.status_code == 422 else 0.5)

    def create_product(self, sku: str, stock: int) -> None:
        response = self._shop.post_product(sku, stock=stock, category="bench", http=self._session)
        if response.status_code != 201:
            raise RuntimeError(f"POST /products: {response.status_code} {response.text}")


ProcessKey = tuple[int, float]
"""A process by pid and start time: a pid the kernel reused is another process."""


@dataclass
class Costs:
    """Counters read before and after a run; the difference is what the run cost."""

    messages_by_topic: dict[str, int]
    write_transactions: int
    commits: int
    cpu_s: dict[ProcessKey, tuple[str, float]]
    """Each process's group and CPU seconds so far."""
    machine_busy_s: float


def _process_group(
    process: psutil.Process, shop: dict[int, str], own_pid: int, foreign_backends: set[int]
) -> str:
    """The shop process (a gunicorn worker counts as its API), Kafka, PostgreSQL (its
    background processes and the backends of the measured databases; `foreign_backends`, the
    backends of other databases on a shared cluster, apart), or other."""
    try:
        if process.pid == own_pid:
            return "benchmark client"
        name = shop.get(process.pid) or shop.get(process.ppid())
        if name:
            return name
        if process.name() == "postgres":
            return (
                "postgresql: other databases" if process.pid in foreign_backends else "postgresql"
            )
        if any("kafka.Kafka" in part for part in process.cmdline()):
            return "kafka"
    except psutil.Error:
        pass
    return "other"


COUNTERS = sa.text(
    "SELECT txid_current(),"
    " (SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database"
    "  WHERE datname = ANY(:databases))"
)
"""The cluster's transaction id counter and the commits of the given databases, in one
transaction (which takes one id and one commit itself)."""
FOREIGN_BACKENDS = sa.text(
    "SELECT pid FROM pg_stat_activity WHERE datname IS NOT NULL AND datname <> ALL(:databases)"
)
"""The backends of other databases than the given ones (other sessions' tests, on a shared
cluster): their CPU is not the measured system's."""


def database_names(shop: Shop) -> list[str]:
    """The shop's databases (the orchestrator's is the order service's, or, in a baseline of
    the former shape, its own)."""
    names = {sa.make_url(shop.env[entry.database_url_variable]).database for entry in SERVICES}
    return sorted(name or "" for name in names)


class Meter:
    """Reads a system's costs: its Kafka topics' end offsets (when it has any), PostgreSQL's
    counters for its databases, every process's CPU (its own processes named by
    `processes`) and the machine's."""

    def __init__(
        self,
        engine: sa.Engine,
        databases: list[str],
        processes: Callable[[], dict[int, str]],
        kafka: KafkaSettings | None = None,
    ) -> None:
        self._engine = engine
        self._databases = databases
        self._processes = processes
        self._kafka = kafka
        self._topics = (
            {spec.name: kafka.qualify(spec.name) for spec in all_topics()} if kafka else {}
        )
        self._own_pid = psutil.Process().pid

    @classmethod
    def of_shop(cls, shop: Shop, engine: sa.Engine) -> Meter:
        return cls(
            engine,
            database_names(shop),
            lambda: {p.pid: name for name, p in shop.processes.items()},
            shop.kafka,
        )

    def read(self) -> Costs:
        offsets = end_offsets(self._kafka, list(self._topics.values())) if self._kafka else {}
        with self._engine.connect() as connection:
            xid, commits = connection.execute(COUNTERS, {"databases": self._databases}).one()
            foreign = set(
                connection.execute(FOREIGN_BACKENDS, {"databases": self._databases}).scalars()
            )
        named = self._processes()
        cpu: dict[ProcessKey, tuple[str, float]] = {}
        for process in psutil.process_iter():
            group = _process_group(process, named, self._own_pid, foreign)
            try:
                times = process.cpu_times()
                key = (process.pid, process.create_time())
            except psutil.Error:
                continue
            cpu[key] = (group, times.user + times.system)
        return Costs(
            messages_by_topic={
                topic: sum(offsets[broker_name].values())
                for topic, broker_name in self._topics.items()
            },
            write_transactions=xid,
            commits=int(commits),
            cpu_s=cpu,
            machine_busy_s=_busy_s(),
        )

    def settle(self, quiet_s: float = 1.5, timeout_s: float = 60.0) -> Costs:
        """Counters once the system has gone quiet (the sagas' last replies and progress
        published: no message for `quiet_s`) and PostgreSQL has published every backend's
        commit counts: a backend that went idle within a second of its last report holds its
        counts back for PGSTAT_IDLE_INTERVAL (10 s), so `pg_stat_database` is read after that."""
        deadline = time.monotonic() + timeout_s
        last = self.read()
        while self._topics and time.monotonic() < deadline:
            time.sleep(quiet_s)
            current = self.read()
            if current.messages_by_topic == last.messages_by_topic:
                break
            last = current
        time.sleep(STATS_PUBLISHED_S)
        return self.read()


#: How long after its last transaction an idle backend's commit counts are surely in
#: `pg_stat_database` (PostgreSQL's PGSTAT_IDLE_INTERVAL, 10 s, and a margin).
STATS_PUBLISHED_S = 11.0


def per_checkout(before: Costs, after: Costs, checkouts: int) -> dict:
    by_topic = {
        topic: (count - before.messages_by_topic.get(topic, 0)) / checkouts
        for topic, count in sorted(after.messages_by_topic.items())
        if count != before.messages_by_topic.get(topic, 0)
    }
    groups, exited = cpu_by_group(before.cpu_s, after.cpu_s)
    return {
        "kafka_messages": sum(by_topic.values()),
        "kafka_messages_by_topic": by_topic,
        # The counters' read itself takes one transaction id (and rolls back: no commit).
        "postgres_write_transactions": (after.write_transactions - before.write_transactions - 1)
        / checkouts,
        "postgres_commits": (after.commits - before.commits) / checkouts,
        "cpu_ms_by_group": {g: 1000 * s / checkouts for g, s in sorted(groups.items())},
        "processes_exited_mid_run": exited,
        "machine_cpu_ms": 1000 * (after.machine_busy_s - before.machine_busy_s) / checkouts,
    }


def cpu_by_group(
    before: dict[ProcessKey, tuple[str, float]], after: dict[ProcessKey, tuple[str, float]]
) -> tuple[dict[str, float], dict[str, int]]:
    """CPU seconds each group's processes used between two reads, process by process: one
    started between them counts from zero, one that exited is left out (its last seconds are
    unknown) and counted by group in the second result. Never negative."""
    groups: dict[str, float] = {}
    for key, (group, seconds) in after.items():
        used = seconds - before.get(key, (group, 0.0))[1]
        groups[group] = groups.get(group, 0.0) + max(0.0, used)
    exited: dict[str, int] = {}
    for key, (group, _) in before.items():
        if key not in after:
            exited[group] = exited.get(group, 0) + 1
    return groups, exited


def _busy_s() -> float:
    """CPU seconds the whole machine has spent busy (every process, the kernel's interrupts),
    from /proc/stat: idle and iowait are not busy, and steal is another machine's."""
    total = psutil.cpu_times()  # /proc/stat's cpu line
    return total.user + total.system + total.nice + total.irq + total.softirq


def busy_cores_between(start: float, end: float) -> float:
    """How many of the machine's cores were busy, on average, from `start` to `end` (epoch s)."""
    time.sleep(max(0.0, start - time.time()))
    before = _busy_s()
    time.sleep(max(0.0, end - time.time()))
    return (_busy_s() - before) / (end - start)


def summarise(checkouts: list[Checkout], window: tuple[float, float]) -> dict:
    start, end = window
    done = [c for c in checkouts if c.ended_at is not None and start <= c.ended_at <= end]
    latencies = sorted(c.latency_ms for c in done)
    wrong = [c for c in checkouts if c.outcome is not None and c.outcome != EXPECTED[c.kind]]
    unfinished = [c for c in checkouts if c.ended_at is None]

    def percentile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0

    return {
        "completed": len(done),
        "sagas_per_s": len(done) / (end - start),
        "latency_ms": {
            "p50": percentile(0.50),
            "p95": percentile(0.95),
            "p99": percentile(0.99),
            "mean": statistics.fmean(latencies) if latencies else 0.0,
        },
        "wrong_outcomes": len(wrong),
        "unfinished": len(unfinished),
    }


@dataclass
class ClosedLoop:
    """What C clients did in a closed loop: their checkouts, the timed window, busy cores."""

    checkouts: list[Checkout]
    window: tuple[float, float]
    machine_cores_busy: float


def run_closed_loop(
    checkout: Callable[[str, float], Checkout], clients: int, seconds: float, warmup_s: float
) -> ClosedLoop:
    """`clients` threads, each running `checkout(kind, started_at)` for the next kind of the
    mix as soon as its last one ended, until `warmup_s + seconds` from now; the figures count
    what ended in the last `seconds`."""
    start = time.time() + warmup_s
    end = start + seconds
    kinds = itertools.cycle(MIX)
    lock = threading.Lock()
    checkouts: list[Checkout] = []

    def client() -> None:
        while time.time() < end:
            with lock:
                kind = next(kinds)
            done = checkout(kind, time.time())
            with lock:
                checkouts.append(done)

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client) for _ in range(clients)]
        cores_busy = busy_cores_between(start, end)
        for future in futures:
            future.result()
    return ClosedLoop(checkouts, (start, end), cores_busy)


class Bench:
    """One shop under load: seeded once, then any number of closed- and open-loop runs."""

    def __init__(self, shop: Shop, engine: sa.Engine, drain_s: float) -> None:
        self.shop = shop
        self.meter = Meter.of_shop(shop, engine)
        self.drain_s = drain_s
        self.listener = OutcomeListener(shop.kafka)
        skus = [f"BENCH-{uuid.uuid4().hex[:8].upper()}" for _ in range(CATALOGUE_SIZE)]
        scarce = f"SCARCE-{uuid.uuid4().hex[:8].upper()}"
        self.storefront = Storefront(shop, skus, scarce)
        for sku in skus:
            self.storefront.create_product(sku, stock=1_000_000)
        self.storefront.create_product(scarce, stock=1)
        self._warm_up()

    def _warm_up(self) -> None:
        """A checkout for every product of the catalogue and two of each rejected kind, so
        every sku is known to the order service and every consumer has joined its group
        before anything is timed."""
        deadline = time.monotonic() + 120
        kinds = ["approved"] * CATALOGUE_SIZE + ["declined", "out_of_stock"] * 2
        warm = [Checkout(kind, time.time()) for kind in kinds]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: self.storefront.place(c, deadline), warm))
        for checkout in warm:
            self.listener.wait(checkout, max(1.0, deadline - time.monotonic()))
        failed = [c for c in warm if c.outcome != EXPECTED[c.kind]]
        if failed:
            raise RuntimeError(f"warm-up checkouts ended wrongly: {[asdict(c) for c in failed]}")

    def _checkout(self, kind: str, started_at: float) -> Checkout:
        checkout = Checkout(kind, started_at)
        self.storefront.place(checkout)
        self.listener.wait(checkout, self.drain_s)
        return checkout

    def closed_loop(self, clients: int, seconds: float, warmup_s: float = 2.0) -> dict:
        before = self.meter.settle()
        loop = run_closed_loop(self._checkout, clients, seconds, warmup_s)
        after = self.meter.settle()
        return closed_loop_result(
            loop, clients, seconds, per_checkout(before, after, len(loop.checkouts))
        )

    def open_loop(self, rate: float, seconds: float, max_in_flight: int = 400) -> dict:
        """Arrivals every 1/rate s for `seconds`; refuses to queue past `max_in_flight`."""
        self.meter.settle()
        total = int(rate * seconds)
        kinds = itertools.cycle(MIX)
        start = time.time() + 0.5
        futures: list[Future[Checkout]] = []
        skipped = 0
        with ThreadPoolExecutor(max_in_flight) as pool:
            for n in range(total):
                scheduled = start + n / rate
                pause = scheduled - time.time()
                if pause > 0:
                    time.sleep(pause)
                if sum(1 for f in futures if not f.done()) >= max_in_flight:
                    skipped += 1
                    continue
                futures.append(pool.submit(self._checkout, next(kinds), scheduled))
            checkouts = [f.result() for f in futures]
        result = summarise(checkouts, (start, time.time()))
        return {
            "mode": "open",
            "arrival_rate_per_s": rate,
            "seconds": seconds,
            "arrivals": total,
            "not_sent_over_in_flight_limit": skipped,
            **result,
            # all arrivals ended: the rate the shop kept up with is the arrival rate
            "sagas_per_s": result["completed"] / seconds if not skipped else result["sagas_per_s"],
        }

    def close(self) -> None:
        self.listener.close()


def closed_loop_result(loop: ClosedLoop, clients: int, seconds: float, cost: dict) -> dict:
    return {
        "mode": "closed",
        "clients": clients,
        "seconds": seconds,
        **summarise(loop.checkouts, loop.window),
        "machine_cores_busy": loop.machine_cores_busy,
        "cost_per_checkout": cost,
    }


@contextmanager
def running_shop(
    workers: int, api_workers: int, telemetry: str = "otlp", source: Path = REPO
) -> Iterator[Bench]:
    """A shop of the bench's shape running `source`'s code (this tree unless told otherwise)."""
    with ExitStack() as stack:
        shop = run_shop(
            stack,
            ShopOptions(
                reply_timeout_s=30,
                payment_timeout_s=30,
                workers=workers,
                api_workers=api_workers,
                partitions=PARTITIONS,
                extra_env=TELEMETRY[telemetry],
                source=source,
            ),
        )
        engine = sa.create_engine(shop.env["ORDER_DATABASE_URL"], poolclass=sa.NullPool)
        stack.callback(engine.dispose)
        bench = Bench(shop, engine, drain_s=120)
        stack.callback(bench.close)
        yield bench


def add_telemetry_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--telemetry",
        choices=sorted(TELEMETRY),
        default="otlp",
        help="otlp: the shop exports spans and metrics to the local Jaeger, as `make up` does; "
        "none: recorded, not exported",
    )


def fmt_run(run: dict) -> str:
    lat = run["latency_ms"]
    return (
        f"{run['sagas_per_s']:7.1f}/s  p50 {lat['p50']:6.0f}  p95 {lat['p95']:6.0f}  "
        f"p99 {lat['p99']:6.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each run")
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[1, 4, 16, 32], help="closed-loop sweep"
    )
    parser.add_argument(
        "--open-fractions",
        type=float,
        nargs="+",
        default=[0.5, 0.8],
        help="open-loop arrival rates, as fractions of the closed-loop maximum",
    )
    parser.add_argument(
        "--open-rates",
        type=float,
        nargs="+",
        default=[],
        help="open-loop arrival rates per second, instead of fractions (to compare two builds)",
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--api-workers", type=int, default=2, help="gunicorn workers per API")
    add_telemetry_argument(parser)
    args = parser.parse_args()

    runs: list[dict] = []
    scaling: list[dict] = []

    def save() -> None:
        result = {
            "workload": {**vars(args), "mix": MIX, "partitions": PARTITIONS},
            "runs": runs,
            "scaling": scaling,
        }
        write_result("checkout", result)

    for workers in args.workers:
        with running_shop(workers, args.api_workers, args.telemetry) as bench:
            if workers == args.workers[0]:
                for clients in args.clients:
                    runs.append({"workers": workers, **bench.closed_loop(clients, args.seconds)})
                    save()
                    print(f"closed loop, {clients:3} clients: {fmt_run(runs[-1])}", flush=True)
                best = max(runs, key=lambda r: r["sagas_per_s"])
                rates = args.open_rates or [
                    round(best["sagas_per_s"] * fraction, 1) for fraction in args.open_fractions
                ]
                for rate in rates:
                    runs.append({"workers": workers, **bench.open_loop(rate, args.seconds)})
                    save()
                    print(f"open loop, {rate:6.1f} arrivals/s: {fmt_run(runs[-1])}", flush=True)
                scaling.append({"workers": workers, **best})
            else:
                scaling.append(
                    {"workers": workers, **bench.closed_loop(best["clients"], args.seconds)}
                )
            save()
            print(f"{workers} worker(s) per service: {fmt_run(scaling[-1])}", flush=True)

    print_table(
        "checkout",
        [
            (f"{r['mode']} {r.get('clients') or r.get('arrival_rate_per_s')}", fmt_run(r))
            for r in runs
        ]
        + [(f"scaling: {s['workers']} worker(s)", fmt_run(s)) for s in scaling],
    )
    print(f"written to {RESULTS / 'checkout.json'}")


if __name__ == "__main__":
    main()
