"""The one place that wires inventory: settings -> database, outbox, Kafka, API, worker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

import contracts
from eventing import topics
from eventing.config import KafkaSettings
from eventing.consumer import EventConsumer
from eventing.outbox import Outbox, OutboxRelay
from eventing.producer import KafkaPublisher
from eventing.registry import registry
from inventory_service import orm
from inventory_service.api import build_api
from inventory_service.config import Settings, load_settings
from inventory_service.handlers import command_handler
from inventory_service.uow import CONSUMER_NAME, InventoryUnitOfWork
from servicekit.app import create_service_app, kafka_check
from servicekit.db import make_engine, ping

_ = contracts  # importing it registers every message type


@dataclass
class InventoryApp:
    settings: Settings
    kafka: KafkaSettings
    engine: Engine
    outbox: Outbox
    uow_factory: Callable[[], InventoryUnitOfWork]

    def flask_app(self) -> Flask:
        api = build_api(self.uow_factory, lambda: self.settings.admin_token)
        return create_service_app(
            api, {"database": lambda: ping(self.engine), "kafka": kafka_check(self.kafka)}
        )

    def consumer(self) -> EventConsumer:
        return EventConsumer(
            self.kafka,
            group_id=CONSUMER_NAME,
            topics=[topics.INVENTORY_COMMANDS],
            handler=command_handler(self.uow_factory),
            registry=registry,
        )

    def relay(self) -> OutboxRelay:
        return OutboxRelay(self.engine, self.outbox, KafkaPublisher(self.kafka))

    def tasks(self) -> dict[str, Callable[[threading.Event], None]]:
        return {"consumer": self.consumer().run, "relay": self.relay().run}


def bootstrap(settings: Settings | None = None, kafka: KafkaSettings | None = None) -> InventoryApp:
    settings = settings or load_settings()
    kafka = kafka or settings.kafka()
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    outbox = Outbox(orm.outbox, topic_namespace=kafka.topic_namespace)
    sessions = sessionmaker(engine, expire_on_commit=False)
    return InventoryApp(
        settings, kafka, engine, outbox, lambda: InventoryUnitOfWork(sessions, outbox)
    )
