"""A whole shop as real processes, for end-to-end tests: each service's API (gunicorn) and
worker, and the saga orchestrator (and, when asked, the search API), started with
`python -m ...` exactly as `make up` does, but on free ports, scratch databases, a topic
namespace and a search index of their own. Any process can be killed (SIGKILL) and started
again mid-test.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType

import requests

from eventing.config import KafkaSettings
from eventing.topics import DLQ_SUFFIX, TopicSpec, all_topics, record_topics
from servicekit import registry
from testkit.ports import free_port
from testkit.processes import terminate
from testkit.scratch import POSTGRES_URL_TEMPLATE, scratch_database, scratch_topics
from testkit.tokens import TokenIssuer

REPO = Path(__file__).resolve().parents[1]
ADMIN = {"Authorization": "Bearer e2e-admin-token"}
CUSTOMER = "e2e-customer"
"""Whom the storefront helpers order for, unless told otherwise."""


#: What an end-to-end shop runs: every deployable that works in a database (each owner is
#: given a scratch one, which the orchestrator shares with the order service), with its API
#: and worker. The search API joins on request
#: (`ShopOptions(search_api=True)`); the search indexer and the console run beside a shop
#: through `testkit.search` and `testkit.console`.
SERVICES = registry.on_databases()
SEARCH = registry.entry("search-indexer")


@dataclass
class Shop:
    kafka: KafkaSettings
    env: dict[str, str]
    tokens: TokenIssuer = field(default_factory=TokenIssuer.create)
    """The shop's own customer-token key pair: its APIs verify with its public key."""
    urls: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shop-e2e-")))
    source: Path = REPO
    """The source tree whose code the processes run (`python -m` imports from its cwd)."""

    def customer_headers(self, customer_id: str = CUSTOMER) -> dict[str, str]:
        """`Authorization` with a customer token of this shop's, valid for an hour."""
        return self.tokens.headers(customer_id)

    @property
    def order_url(self) -> str:
        return self.urls["order_service"]

    @property
    def inventory_url(self) -> str:
        return self.urls["inventory_service"]

    @property
    def payment_url(self) -> str:
        return self.urls["payment_service"]

    @property
    def search_url(self) -> str:
        """Only with `ShopOptions(search_api=True)`."""
        return self.urls[SEARCH.package]

    def post_product(
        self,
        sku: str,
        *,
        stock: int,
        price_cents: int = 1000,
        category: str = "e2e",
        http: requests.Session | None = None,
    ) -> requests.Response:
        """`POST /products` as the admin, for a product named after its sku."""
        return (http or requests).post(
            f"{self.inventory_url}/products",
            headers=ADMIN,
            timeout=30,
            json={
                "sku": sku,
                "name": f"Product {sku}",
                "description": category,
                "category": category,
                "price_cents": price_cents,
                "stock": stock,
                "attributes": {},
            },
        )

    def start(self, name: str) -> None:
        """Start `package:role`, or a further instance of it as `package:role:instance`."""
        package, role, *instance = name.split(":")
        log = (self.logs / f"{name.replace(':', '-')}.log").open("ab")
        api_workers = ["--workers", self.env["WEB_CONCURRENCY"]] if role == "api" else []
        env = {**self.env, **group_membership(package, role, instance[0] if instance else "1")}
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", package, role, *api_workers],
            cwd=self.source,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children (gunicorn workers): a crash, not a stop."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self, name: str) -> None:
        terminate(self.processes[name])

    def wait_ready(self, timeout_s: float = 300.0) -> None:
        """Until every API answers /readyz. A process that exits fails this at once; one that
        is alive may be slow (nine Python processes importing everything at once on a loaded
        2-core machine took minutes), so the bound is generous."""
        deadline = time.monotonic() + timeout_s
        for package, url in self.urls.items():
            while True:
                try:
                    if requests.get(f"{url}/readyz", timeout=2).ok:
                        self._assert_served_by(package, url)
                        break
                except requests.RequestException:
                    pass
                dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
                assert not dead, f"processes exited: {dead}; logs in {self.logs}"
                assert time.monotonic() < deadline, f"{url} not ready; logs in {self.logs}"
                time.sleep(0.3)

    def _assert_served_by(self, package: str, url: str) -> None:
        """The server on `url` is `package`'s API (its /healthz names it: `order-service`,
        `search-api`), not another server that holds the port."""
        service = requests.get(f"{url}/healthz", timeout=2).json().get("service", "")
        expected = package.split("_")[0]
        assert service.startswith(expected), f"{url} is served by {service!r}, not {package}"

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            parts.append(f"--- {path.name}\n" + "\n".join(path.read_text().splitlines()[-lines:]))
        return "\n".join(parts)


def group_membership(package: str, role: str, instance: str) -> dict[str, str]:
    """A worker's static consumer-group instance id, the same after every restart (as
    infra/services/ctl gives each worker): `sagas:worker:2` is `sagas-worker-2`."""
    if role != registry.Role.WORKER:
        return {}
    return {"KAFKA_GROUP_INSTANCE_ID": registry.group_instance_id(package, instance)}


@dataclass(frozen=True)
class Servers:
    """Where a shop's servers are: the shared local stack unless told otherwise (a private
    stack of a failure drill, `testkit.private_stack`)."""

    kafka_bootstrap: str | None = None
    """None: `KAFKA_BOOTSTRAP_SERVERS`, or the local stack's broker."""
    postgres_url_template: str = POSTGRES_URL_TEMPLATE
    elasticsearch_url: str | None = None
    """None: the search settings' own (`SEARCH_ELASTICSEARCH_URL`, or the local node)."""


@dataclass
class ShopOptions:
    reply_timeout_s: float = 5.0
    payment_timeout_s: float = 3.0
    retry_base_delay_s: float = 0.5
    extra_env: dict[str, str] = field(default_factory=dict)
    #: Worker processes per service (the saga orchestrator counts as the sagas' worker).
    workers: int = 1
    #: gunicorn workers per API.
    api_workers: int = 2
    #: Partitions for every primary topic, when more are wanted than the topics declare.
    partitions: int | None = None
    #: Also serve the search API, on an empty index of its own (removed afterwards). No
    #: indexer feeds it: tests that need search results run one (`testkit.search`).
    search_api: bool = False
    #: `POST /orders` per customer and minute: high, as tests order for one customer quickly.
    order_rate_limit: int = 1_000_000
    #: How long every API may take to answer `/readyz`; None: `startup_deadline_s` for the
    #: number of processes started. Nine Python processes importing everything at once on a
    #: loaded 2-core machine can need minutes, and ~20 (4 workers per service) twice that.
    ready_timeout_s: float | None = None
    servers: Servers = field(default_factory=Servers)
    #: The source tree the processes run: this one, or an export of another commit (the
    #: benchmark's A/B against an earlier build, `bench.ab`).
    source: Path = REPO


def startup_deadline_s(processes: int) -> float:
    """How long a shop of `processes` may take to be ready: 20 s a process, 180 s at least.
    Start-up is CPU-bound (each imports the SDKs and the service), so on 2 loaded cores it
    grows with the number of processes started at once."""
    return max(180.0, 20.0 * processes)


def shop_registry(source: Path = REPO) -> ModuleType:
    """The registry of deployables of the source tree a shop runs (`servicekit/registry.py`,
    data only): this tree's, or an earlier commit's for `bench.ab`'s baseline, whose shop may
    have another shape (the orchestrator had a database of its own before it moved into the
    order service's)."""
    if source.resolve() == REPO.resolve():
        return registry
    path = source / "servicekit" / "registry.py"
    spec = importlib.util.spec_from_file_location(f"_registry_of_{abs(hash(source))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def services_of(shop_shape: ModuleType) -> tuple[registry.Entry, ...]:
    """The deployables a shop of that registry runs: each that works in a database (a registry
    from before `on_databases` had only owners)."""
    if hasattr(shop_shape, "on_databases"):
        return shop_shape.on_databases()
    return shop_shape.with_database()


def process_names(workers: int = 1, source: Path = REPO) -> list[str]:
    names = []
    for entry in services_of(shop_registry(source)):
        for process in entry.processes:
            names.append(f"{entry.package}:{process.role}")
            if process.role == registry.Role.WORKER:  # a str enum, of either registry
                names.extend(f"{entry.package}:worker:{n}" for n in range(2, workers + 1))
    return names


def _topics(partitions: int | None) -> list[TopicSpec]:
    if partitions is None:
        return list(all_topics())
    unchanged = {spec.name for spec in record_topics()}
    return [
        spec
        if spec.name.endswith(DLQ_SUFFIX) or spec.name in unchanged
        else replace(spec, partitions=partitions)
        for spec in all_topics()
    ]


def run_shop(stack: ExitStack, options: ShopOptions | None = None) -> Shop:
    """Start the whole shop; everything is stopped and removed when `stack` closes."""
    options = options or ShopOptions()
    servers = options.servers
    kafka = KafkaSettings.from_env(
        client_id="e2e",
        topic_namespace=f"e{uuid.uuid4().hex[:8]}.",
        **({"bootstrap_servers": servers.kafka_bootstrap} if servers.kafka_bootstrap else {}),
    )
    stack.enter_context(scratch_topics(kafka, _topics(options.partitions)))
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_NAMESPACE": kafka.topic_namespace,
        "ADMIN_TOKEN": ADMIN["Authorization"].split()[1],
        "OTEL_TRACES_EXPORTER": os.environ.get("E2E_OTEL_TRACES_EXPORTER", "none"),
        "OTEL_METRICS_EXPORTER": os.environ.get("E2E_OTEL_METRICS_EXPORTER", "none"),
        "SAGAS_REPLY_TIMEOUT_S": str(options.reply_timeout_s),
        "SAGAS_PAYMENT_TIMEOUT_S": str(options.payment_timeout_s),
        "SAGAS_RETRY_BASE_DELAY_S": str(options.retry_base_delay_s),
        "WEB_CONCURRENCY": str(options.api_workers),
        "ORDER_RATE_LIMIT_ORDERS": str(options.order_rate_limit),
        **(
            {"SEARCH_ELASTICSEARCH_URL": servers.elasticsearch_url}
            if servers.elasticsearch_url
            else {}
        ),
        **options.extra_env,
    }
    shop = Shop(kafka, env, source=options.source)
    env.update(shop.tokens.env())
    env.update(options.extra_env)
    shape = shop_registry(options.source)
    for entry in services_of(shape):
        owner = getattr(entry, "database_of", None)
        if owner is not None:
            env[entry.database_url_variable] = env[shape.entry(owner).database_url_variable]
        else:
            engine = stack.enter_context(
                scratch_database(pool_size=2, url_template=servers.postgres_url_template)
            )
            env[entry.database_url_variable] = engine.url.render_as_string(hide_password=False)
        if entry.api:
            port = free_port()
            env[entry.port_variable] = str(port)
            shop.urls[entry.package] = entry.base_url(port=port)

    def stop_all() -> None:
        for name in reversed(list(shop.processes)):
            shop.stop(name)

    if options.search_api:
        _serve_search(
            stack,
            shop,
            index_alias=f"products-{kafka.topic_namespace.rstrip('.')}",
            elasticsearch_url=servers.elasticsearch_url,
        )
    stack.callback(stop_all)
    names = process_names(options.workers, options.source)
    if options.search_api:
        names.append(f"{SEARCH.package}:{registry.Role.API}")
    for name in names:
        shop.start(name)
    shop.wait_ready(options.ready_timeout_s or startup_deadline_s(len(names)))
    return shop


def _serve_search(
    stack: ExitStack, shop: Shop, *, index_alias: str, elasticsearch_url: str | None
) -> None:
    from search_indexer.config import Settings
    from search_indexer.index import ProductIndex, client

    index = ProductIndex(client(elasticsearch_url or Settings().elasticsearch_url), index_alias)
    index.ensure()

    def delete_indices() -> None:
        for name in index.indices_behind_alias():
            index.delete_index(name)

    stack.callback(delete_indices)
    port = free_port()
    shop.env.update({SEARCH.port_variable: str(port), "SEARCH_INDEX_ALIAS": index_alias})
    shop.urls[SEARCH.package] = SEARCH.base_url(port=port)
