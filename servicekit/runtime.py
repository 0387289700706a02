"""What every service's bootstrap builds: the engine, the outbox and its relay, the consumer,
the Flask app. A service subclasses `ServiceRuntime` with its API, topics and handler."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from flask import Flask
from sqlalchemy import Table
from sqlalchemy.orm import sessionmaker

import contracts
from eventing.config import KafkaSettings
from eventing.consumer import EventConsumer, Handler, HoldDatabase
from eventing.inbox import InboxPruner, retention_by_event_type
from eventing.kafka_admin import cluster_check
from eventing.metrics import register_consumer_lag_gauge, register_outbox_gauges
from eventing.outbox import Outbox, OutboxRelay
from eventing.producer import KafkaPublisher
from eventing.registry import registry
from eventing.sql import HoldTables
from servicekit.api import Api
from servicekit.app import create_service_app
from servicekit.customer_tokens import CustomerTokenVerifier
from servicekit.db import UnitOfWork, make_engine, ping
from servicekit.settings import ServiceSettings

_ = contracts  # importing it registers every message type
U = TypeVar("U", bound=UnitOfWork)
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


class ServiceRuntime(ABC, Generic[U]):
    consumer_group: str
    subscribed_topics: Sequence[str]

    def __init__(
        self,
        settings: ServiceSettings,
        kafka: KafkaSettings | None,
        outbox_table: Table,
        make_uow: Callable[[sessionmaker, Outbox], U],
        hold_tables: HoldTables,
        inbox_table: Table | None = None,
    ):
        self.settings = settings
        self.kafka = kafka or settings.kafka()
        self.engine = make_engine(
            settings.database_url, pool_size=settings.db_pool_size, pre_ping=settings.db_pre_ping
        )
        self.outbox = Outbox(outbox_table, topic_namespace=self.kafka.topic_namespace)
        sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.uow_factory: Callable[[], U] = lambda: make_uow(sessions, self.outbox)
        self.hold_tables = hold_tables
        self.inbox_table = inbox_table

    @abstractmethod
    def api(self) -> Api: ...

    @abstractmethod
    def handler(self) -> Handler: ...

    def customer_token_verifier(self) -> CustomerTokenVerifier:
        """The verifier of the customer tokens its API accepts (keys from the settings)."""
        return CustomerTokenVerifier.from_settings(self.settings.customer_tokens)

    def flask_app(self) -> Flask:
        return create_service_app(
            self.api(), {"database": lambda: ping(self.engine), "kafka": cluster_check(self.kafka)}
        )

    def consumer(self) -> EventConsumer:
        return EventConsumer(
            self.kafka,
            group_id=self.consumer_group,
            topics=self.subscribed_topics,
            handler=self.handler(),
            registry=registry,
            holds=HoldDatabase(self.engine, self.hold_tables),
        )

    def relay(self) -> OutboxRelay:
        return OutboxRelay(self.engine, self.outbox, KafkaPublisher(self.kafka))

    def inbox_pruner(self) -> InboxPruner | None:
        if self.inbox_table is None:
            return None
        return InboxPruner(self.engine, self.inbox_table, retention_by_event_type(registry))

    def register_gauges(self) -> None:
        """The worker's state as gauges: its outbox's backlog and oldest row, its consumer
        group's lag. Only the worker registers them: its API processes would repeat them."""
        register_outbox_gauges(self.engine, self.outbox.table)
        register_consumer_lag_gauge(self.kafka, self.consumer_group)

    def worker_tasks(self) -> dict[str, Callable[[threading.Event], None]]:
        """What the worker process runs, its gauges registered."""
        self.register_gauges()
        return self.tasks()

    def tasks(self) -> dict[str, Callable[[threading.Event], None]]:
        tasks: dict[str, Callable[[threading.Event], None]] = {
            "consumer": self.consumer().run,
            "relay": self.relay().run,
        }
        pruner = self.inbox_pruner()
        if pruner is not None:
            tasks["inbox-pruner"] = pruner.run
        return tasks


def create_flask_app(
    load_settings: Callable[[], SettingsT],
    bootstrap: Callable[[SettingsT], ServiceRuntime[Any]],
) -> Flask:
    """A service's gunicorn app factory: observability first (before any engine exists)."""
    from servicekit.observability import setup_observability

    settings = load_settings()
    setup_observability(settings.service_name, settings.log_level)
    return bootstrap(settings).flask_app()
