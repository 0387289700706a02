"""The shop's deployables, listed once.

Every place that needs to know which processes the shop runs reads this list: `shopctl status`,
`shopctl wait` and `shopctl replay` (through `shopctl.workers`), `testkit.shop` (which processes
an end-to-end shop starts, with which ports and environment), the schema tests, and the unit
tests that hold `infra/services/ctl` and `docker-compose.yml` to it.

It is data only: importing it imports no service, so a tool can list the shop without loading
Flask, SQLAlchemy models or Kafka clients. `load(entry)` gives an entry's declared
`servicekit.deployable.Deployable` when its wiring is wanted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from servicekit.deployable import Deployable

LOCAL_HOST = "127.0.0.1"


class Role(StrEnum):
    """What a process of a deployable runs: `python -m <package> <role>`."""

    API = "api"
    """An HTTP API under gunicorn, on the deployable's port."""
    WORKER = "worker"
    """Kafka consumers, the outbox relay and the deployable's own tasks."""
    SERVE = "serve"
    """A web app with no worker beside it (the operator console), on the deployable's port."""

    @property
    def listens(self) -> bool:
        return self is not Role.WORKER


@dataclass(frozen=True)
class Process:
    """One process of a deployable, as `infra/services/ctl` and `docker-compose.yml` run it."""

    role: Role
    name: str
    """Its name in `infra/services/ctl` (pid file, log file) and its service in
    `docker-compose.yml`: the same in both, e.g. `order-api`."""
    status_label: str | None
    """Its row in `shopctl status`; None: not shown there."""


@dataclass(frozen=True)
class Entry:
    """One deployable of the shop."""

    name: str
    """`order-service`: service name, Kafka consumer group and inbox identity at once."""
    package: str
    """`order_service`: `python -m <package> <role>`, its migrations, its settings."""
    env_prefix: str
    """`ORDER_`: its settings are `<prefix>DATABASE_URL`, `<prefix>PORT`, ..."""
    processes: tuple[Process, ...]
    """In the order they are started."""
    port: int | None = None
    """Where its API (or web app) listens by default; None: it serves no HTTP."""
    url_variable: str | None = None
    """The variable that moves its API for the shop's other parts (`ORDER_SERVICE_URL`)."""
    database: bool = False
    """It owns a PostgreSQL database (`<prefix>DATABASE_URL`): migrations, outbox, inbox."""
    database_of: str | None = None
    """It works in another deployable's database (that one's name), reached through its own
    `<prefix>DATABASE_URL` or the owner's: the orchestrator in the order service's."""
    replayable: bool = False
    """`shopctl replay` can run a window of a topic through its worker's handler."""
    declares_deployable: bool = True
    """It declares a `servicekit.deployable.Deployable` as `<package>.deployable.DEPLOYABLE`
    (the console and the storefront are plain Flask apps and declare none)."""

    def process(self, role: Role) -> Process | None:
        return next((process for process in self.processes if process.role is role), None)

    @property
    def api(self) -> Process | None:
        return self.process(Role.API)

    @property
    def worker(self) -> Process | None:
        return self.process(Role.WORKER)

    @property
    def consumer_group(self) -> str | None:
        """The Kafka consumer group its worker joins; None: it runs no worker."""
        return self.name if self.worker else None

    @property
    def uses_database(self) -> bool:
        """It runs on the shared runtime: a database of its own or another's."""
        return self.database or self.database_of is not None

    @property
    def port_variable(self) -> str:
        return f"{self.env_prefix}PORT"

    @property
    def database_url_variable(self) -> str:
        return f"{self.env_prefix}DATABASE_URL"

    def base_url(self, host: str = LOCAL_HOST, port: int | None = None) -> str:
        """Where its API answers: `http://127.0.0.1:8000` unless told otherwise."""
        if self.port is None:
            raise LookupError(f"{self.name} serves no HTTP")
        return f"http://{host}:{port or self.port}"

    def health_url(self, host: str = LOCAL_HOST) -> str:
        """Liveness (`/healthz`): what `infra/services/ctl` waits for."""
        return f"{self.base_url(host)}/healthz"

    def command(self, role: Role) -> tuple[str, ...]:
        """The arguments of `python -m` for one of its processes."""
        return (self.package, role.value)


def group_instance_id(package: str, instance: int | str = 1) -> str:
    """A worker's static consumer-group membership (`KAFKA_GROUP_INSTANCE_ID`): its package,
    `worker` and its instance number, the same after every restart (`sagas-worker-2`)."""
    return f"{package}-worker-{instance}"


SHOP: tuple[Entry, ...] = (
    Entry(
        name="inventory-service",
        package="inventory_service",
        env_prefix="INVENTORY_",
        processes=(
            Process(Role.API, "inventory-api", "inventory-service"),
            Process(Role.WORKER, "inventory-worker", "inventory-service worker"),
        ),
        port=8001,
        url_variable="INVENTORY_SERVICE_URL",
        database=True,
        replayable=True,
    ),
    Entry(
        name="payment-service",
        package="payment_service",
        env_prefix="PAYMENT_",
        processes=(
            Process(Role.API, "payment-api", "payment-service"),
            Process(Role.WORKER, "payment-worker", "payment-service worker"),
        ),
        port=8002,
        url_variable="PAYMENT_SERVICE_URL",
        database=True,
        replayable=True,
    ),
    Entry(
        name="order-service",
        package="order_service",
        env_prefix="ORDER_",
        processes=(
            Process(Role.API, "order-api", "order-service"),
            Process(Role.WORKER, "order-worker", "order-service worker"),
        ),
        port=8000,
        url_variable="ORDER_SERVICE_URL",
        database=True,
        replayable=True,
    ),
    Entry(
        name="checkout-saga",
        package="sagas",
        env_prefix="SAGAS_",
        processes=(Process(Role.WORKER, "saga-orchestrator", "saga orchestrator"),),
        database_of="order-service",
        replayable=True,
    ),
    Entry(
        name="search-indexer",
        package="search_indexer",
        env_prefix="SEARCH_",
        processes=(
            Process(Role.WORKER, "search-indexer", "search indexer"),
            Process(Role.API, "search-api", "search-api"),
        ),
        port=8003,
        url_variable="SEARCH_SERVICE_URL",
    ),
    Entry(
        name="console",
        package="console",
        env_prefix="CONSOLE_",
        processes=(Process(Role.SERVE, "console", None),),
        port=8004,
        declares_deployable=False,
    ),
    Entry(
        name="storefront",
        package="storefront",
        env_prefix="STOREFRONT_",
        processes=(Process(Role.SERVE, "storefront", None),),
        port=8005,
        declares_deployable=False,
    ),
)
"""In the order `infra/services/ctl up` starts them (the web apps last: they read the rest)."""


def entry(name: str) -> Entry:
    """The entry of a deployable name (`order-service`) or package (`order_service`)."""
    for candidate in SHOP:
        if name in (candidate.name, candidate.package):
            return candidate
    raise LookupError(f"no deployable {name!r}; known: {', '.join(e.name for e in SHOP)}")


def processes() -> Iterator[tuple[Entry, Process]]:
    """Every process of the shop, in start order."""
    for each in SHOP:
        for process in each.processes:
            yield each, process


def workers() -> tuple[Entry, ...]:
    """The deployables that run a worker, each consuming as its consumer group."""
    return tuple(each for each in SHOP if each.worker)


def with_database() -> tuple[Entry, ...]:
    """The deployables that own a PostgreSQL database."""
    return tuple(each for each in SHOP if each.database)


def on_databases() -> tuple[Entry, ...]:
    """The deployables that work in a PostgreSQL database, their own or another's."""
    return tuple(each for each in SHOP if each.uses_database)


def load(entry: Entry) -> Deployable[Any]:
    """The entry's declared deployable (`<package>.deployable.DEPLOYABLE`): this imports the
    service, its settings and its wiring."""
    if not entry.declares_deployable:
        raise LookupError(f"{entry.name} declares no deployable")
    from servicekit.deployable import deployable_of

    return deployable_of(entry.package)
