"""A deployable: one kind of process of the shop, declared, and the runtime that wires it.

A service says what it is (`Deployable`): its name (which is also its service name in logs
and traces, its Kafka consumer group and its inbox identity), its package (migrations,
`python -m <package>`), its settings, its tables and unit of work, the topics it consumes
and the `{message type: use case}` table that applies them, its API, any tasks of its own
(the sagas' timeout loop). `Runtime` builds what every process needs from that declaration:
the engine, the outbox and its relay, the consumer whose handler is the shared `Dispatcher`,
the inbox pruner, the gauges and the Flask app. `servicekit.cli.run(deployable)` runs any of
them (`migrate`, `api`, `worker`).

A process kind that brings a runtime of its own (the search indexer: a faust app, no database)
is declared too, with `worker_main` and `api_app` in place of the tables and unit of work, so
that the registry lists every deployable alike; `runs_on_shared_runtime` tells them apart.

The shop's deployables are listed once, in `servicekit.registry`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import import_module
from typing import Any, Generic, TypeVar, cast

from flask import Flask
from opentelemetry.metrics import MeterProvider
from sqlalchemy import Engine, Table
from sqlalchemy.orm import Session, sessionmaker

import contracts
from eventing.config import KafkaSettings
from eventing.consumer import EventConsumer, HoldDatabase
from eventing.inbox import Inbox, InboxPruner, retention_by_event_type
from eventing.kafka_admin import cluster_check
from eventing.metrics import register_consumer_lag_gauge, register_outbox_gauges
from eventing.outbox import Outbox, OutboxRelay
from eventing.producer import KafkaPublisher
from eventing.registry import registry
from eventing.sql import HoldTables
from servicekit.api import Api
from servicekit.app import create_service_app
from servicekit.customer_tokens import CustomerTokenVerifier
from servicekit.db import make_engine, ping
from servicekit.dispatch import Dispatcher, UseCases
from servicekit.settings import ServiceSettings
from servicekit.unit_of_work import SqlUnitOfWork

_ = contracts  # importing it registers every message type
U = TypeVar("U", bound=SqlUnitOfWork)
T = TypeVar("T")
Task = Callable[[threading.Event], None]
"""Runs until the event is set (a consumer's `run`, a relay's `run`)."""


@dataclass(frozen=True)
class MessageTables:
    """The backbone's tables in a deployable's own database (see `eventing.sql`)."""

    outbox: Table
    inbox: Table
    holds: HoldTables


@dataclass(frozen=True)
class Deployable(Generic[U]):
    name: str
    """`order-service`: service name, consumer group and inbox identity at once."""
    package: str
    """`order_service`: its migrations live in `<package>/migrations`."""
    load_settings: Callable[[], Any]
    """A `ServiceSettings` for a deployable on the shared runtime; for one with a runtime of
    its own, any settings with a `service_name` and a `log_level`."""
    database_of: str | None = None
    """The package whose database it works in, migrations included, when not its own: the
    orchestrator's is the order service's (`order_service`)."""
    tables: MessageTables | None = None
    """None only for a deployable with a runtime of its own (`worker_main`)."""
    unit_of_work: Callable[[sessionmaker[Session], Outbox, Inbox], U] | None = None
    topics: tuple[str, ...] = ()
    """The logical topics its worker consumes (none: a worker that only relays its outbox)."""
    relays_outbox: bool = True
    """Whether its worker runs the relay of its outbox. False when another deployable's worker
    relays the outbox of the database they share: two relays of one outbox would both wake for
    every row written, and the one that finds it taken makes an empty pass."""
    use_cases: Callable[[Runtime[U]], UseCases[U]] = field(default=lambda runtime: {})
    """Its handler table, built once the runtime exists (a use case may need a dependency
    such as the payment processor)."""
    api: Callable[[Runtime[U]], Api] | None = None
    tasks: Callable[[Runtime[U]], Mapping[str, Task]] = field(default=lambda runtime: {})
    """What its worker runs besides the consumer, the relay and the inbox pruner."""
    gauges: Callable[[Runtime[U]], None] = field(default=lambda runtime: None)
    """Gauges of its own, registered by its worker (beside the outbox and lag gauges)."""
    worker_main: Callable[[Any], int] | None = None
    """A worker of its own, given the settings, run instead of the shared runtime's tasks:
    the search indexer is a faust app, whose event loop consumes, commits and heartbeats."""
    api_app: Callable[[Any], Flask] | None = None
    """Its Flask app, given the settings, when it is not served from a `Runtime` (an API
    without a database, whose readiness is its own)."""
    extra_commands: tuple[str, ...] = ()
    """What its own `__main__` offers besides `api` and `worker` (the indexer's `rebuild`)."""

    @property
    def schema_package(self) -> str:
        """The package whose `migrations` its `migrate` applies."""
        return self.database_of or self.package

    @property
    def consumer_group(self) -> str:
        return self.name

    @property
    def runs_on_shared_runtime(self) -> bool:
        """Whether `runtime()` wires it (database, outbox, inbox, the dispatcher's consumer)."""
        return self.tables is not None and self.unit_of_work is not None

    @property
    def commands(self) -> tuple[str, ...]:
        """What `python -m <package>` offers."""
        return (
            *(("migrate",) if self.runs_on_shared_runtime else ()),
            *(("api",) if self.api or self.api_app else ()),
            "worker",
            *self.extra_commands,
        )

    def runtime(
        self,
        settings: ServiceSettings | None = None,
        kafka: KafkaSettings | None = None,
        *,
        meter_provider: MeterProvider | None = None,
    ) -> Runtime[U]:
        settings = settings or self.load_settings()
        if not isinstance(settings, ServiceSettings):
            raise TypeError(f"{self.name} runs on a runtime of its own, not the shared one")
        return Runtime(self, settings, kafka, meter_provider=meter_provider)


class Runtime(Generic[U]):
    """A deployable wired to its settings: database, outbox, Kafka, API."""

    def __init__(
        self,
        deployable: Deployable[U],
        settings: ServiceSettings,
        kafka: KafkaSettings | None = None,
        *,
        meter_provider: MeterProvider | None = None,
    ):
        if deployable.tables is None or deployable.unit_of_work is None:
            raise TypeError(f"{deployable.name} has no tables: it runs on a runtime of its own")
        self.deployable = deployable
        self.settings = settings
        self.kafka = kafka or settings.kafka()
        self.meter_provider = meter_provider
        """Where its instruments record (None: the global provider); a test reads them in
        memory."""
        self._shared: dict[Callable[..., Any], Any] = {}
        self.engine: Engine = make_engine(
            settings.database_url, pool_size=settings.db_pool_size, pre_ping=settings.db_pre_ping
        )
        self.tables = tables = deployable.tables
        self._unit_of_work = deployable.unit_of_work
        self.outbox = Outbox(tables.outbox, topic_namespace=self.kafka.topic_namespace)
        self.inbox = Inbox(tables.inbox, deployable.name)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def uow_factory(self) -> U:
        """A new unit of work (not yet begun: `with runtime.uow_factory() as uow`)."""
        return self._unit_of_work(self.sessions, self.outbox, self.inbox)

    def shared(self, build: Callable[[Runtime[U]], T]) -> T:
        """`build(self)`, built once per runtime: what a deployable's use cases, tasks and
        gauges share (the sagas' orchestrator)."""
        if build not in self._shared:
            self._shared[build] = build(self)
        return cast(T, self._shared[build])

    @cached_property
    def dispatcher(self) -> Dispatcher[U]:
        return Dispatcher(self.uow_factory, self.deployable.use_cases(self))

    def customer_token_verifier(self) -> CustomerTokenVerifier:
        """The verifier of the customer tokens its API accepts (keys from the settings)."""
        return CustomerTokenVerifier.from_settings(self.settings.customer_tokens)

    def flask_app(self) -> Flask:
        if self.deployable.api is None:
            raise LookupError(f"{self.deployable.name} has no API")
        return create_service_app(
            self.deployable.api(self),
            {"database": lambda: ping(self.engine), "kafka": cluster_check(self.kafka)},
        )

    def consumer(self) -> EventConsumer:
        return EventConsumer(
            self.kafka,
            group_id=self.deployable.consumer_group,
            topics=self.deployable.topics,
            handler=self.dispatcher,
            registry=registry,
            holds=HoldDatabase(self.engine, self.tables.holds),
        )

    def relay(self) -> OutboxRelay:
        return OutboxRelay(
            self.engine, self.outbox, KafkaPublisher(self.kafka), meter_provider=self.meter_provider
        )

    def inbox_pruner(self) -> InboxPruner:
        return InboxPruner(self.engine, self.tables.inbox, retention_by_event_type(registry))

    def register_gauges(self) -> None:
        """The worker's state as gauges: its outbox's backlog and oldest row, its consumer
        group's lag, and the deployable's own. Only the worker registers them: its API
        processes would repeat them."""
        register_outbox_gauges(self.engine, self.outbox.table)
        if self.deployable.topics:
            register_consumer_lag_gauge(self.kafka, self.deployable.consumer_group)
        self.deployable.gauges(self)

    def worker_tasks(self) -> dict[str, Task]:
        """What the worker process runs, its gauges registered."""
        self.register_gauges()
        return self.tasks()

    def tasks(self) -> dict[str, Task]:
        tasks: dict[str, Task] = {}
        if self.deployable.topics:
            tasks["consumer"] = self.consumer().run
        if self.deployable.relays_outbox:
            tasks["relay"] = self.relay().run
        tasks.update(self.deployable.tasks(self))
        if self.deployable.topics:
            tasks["inbox-pruner"] = self.inbox_pruner().run
        return tasks


def deployable_of(package: str) -> Deployable[Any]:
    """The deployable a package declares as `DEPLOYABLE` in its `deployable` module."""
    deployable = import_module(f"{package}.deployable").DEPLOYABLE
    if not isinstance(deployable, Deployable):
        raise TypeError(f"{package}.deployable.DEPLOYABLE is not a Deployable")
    return deployable


def create_app(package: str) -> Flask:
    """gunicorn's app factory for any deployable with an API:
    `servicekit.deployable:create_app('order_service')`. Observability comes first, before
    any engine exists."""
    from servicekit.observability import setup_observability

    deployable = deployable_of(package)
    settings = deployable.load_settings()
    setup_observability(settings.service_name, settings.log_level)
    if deployable.api_app is not None:
        return deployable.api_app(settings)
    return deployable.runtime(settings).flask_app()
