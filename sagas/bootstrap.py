"""The one place that wires the orchestrator: settings -> database, outbox, inbox, Kafka."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry.metrics import MeterProvider
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

import contracts
from eventing import topics
from eventing.config import KafkaSettings
from eventing.consumer import EventConsumer, HoldDatabase
from eventing.inbox import Inbox, InboxPruner, retention_by_event_type
from eventing.metrics import register_consumer_lag_gauge, register_outbox_gauges
from eventing.outbox import Outbox, OutboxRelay
from eventing.producer import KafkaPublisher
from eventing.registry import Decoded, registry
from sagas import orm
from sagas.config import Settings, load_settings
from sagas.definitions import cancellation_saga, checkout_saga
from sagas.framework.metrics import register_in_flight_gauge
from sagas.framework.orchestrator import Orchestrator
from sagas.framework.store import SagaStore
from sagas.progress import saga_progressed
from servicekit.db import make_engine

CONSUMER_GROUP = "checkout-saga"
SUBSCRIBED_TOPICS = (topics.ORDERS, topics.RESERVATIONS, topics.PAYMENTS)
_ = contracts  # importing it registers every message type


@dataclass
class SagaApp:
    settings: Settings
    kafka: KafkaSettings
    engine: Engine
    orchestrator: Orchestrator
    outbox: Outbox

    def handler(self) -> Callable[[Decoded], None]:
        return self.orchestrator.handle

    def consumer(self) -> EventConsumer:
        return EventConsumer(
            self.kafka,
            group_id=CONSUMER_GROUP,
            topics=SUBSCRIBED_TOPICS,
            handler=self.handler(),
            registry=registry,
            holds=HoldDatabase(self.engine, orm.holds),
        )

    def relay(self) -> OutboxRelay:
        return OutboxRelay(self.engine, self.outbox, KafkaPublisher(self.kafka))

    def register_gauges(self) -> None:
        """The orchestrator's state as gauges: its outbox, its consumer group's lag, the
        sagas in flight."""
        register_outbox_gauges(self.engine, self.outbox.table)
        register_consumer_lag_gauge(self.kafka, CONSUMER_GROUP)
        register_in_flight_gauge(self.engine, orm.saga_instances, self.orchestrator.engines)

    def worker_tasks(self) -> dict[str, Callable[[threading.Event], None]]:
        """What the orchestrator process runs, its gauges registered."""
        self.register_gauges()
        return self.tasks()

    def tasks(self) -> dict[str, Callable[[threading.Event], None]]:
        return {
            "consumer": self.consumer().run,
            "relay": self.relay().run,
            "timeouts": self.orchestrator.run_timeouts,
            "inbox-pruner": InboxPruner(
                self.engine, orm.inbox, retention_by_event_type(registry)
            ).run,
        }


def bootstrap(
    settings: Settings | None = None,
    kafka: KafkaSettings | None = None,
    *,
    meter_provider: MeterProvider | None = None,
) -> SagaApp:
    settings = settings or load_settings()
    kafka = kafka or settings.kafka()
    engine = make_engine(
        settings.database_url, pool_size=settings.db_pool_size, pre_ping=settings.db_pre_ping
    )
    outbox = Outbox(orm.outbox, topic_namespace=kafka.topic_namespace)
    orchestrator = Orchestrator(
        [
            checkout_saga(
                reply_timeout_s=settings.reply_timeout_s,
                payment_timeout_s=settings.payment_timeout_s,
                retry_base_delay_s=settings.retry_base_delay_s,
                max_compensation_attempts=settings.max_compensation_attempts,
                step_attempts=settings.step_attempts,
                step_deadline_s=settings.step_deadline_s,
            ),
            cancellation_saga(
                reply_timeout_s=settings.reply_timeout_s,
                retry_base_delay_s=settings.retry_base_delay_s,
            ),
        ],
        session_factory=sessionmaker(engine, expire_on_commit=False),
        store=SagaStore(orm.saga_instances, orm.saga_log, orm.saga_progress_seq, outbox=orm.outbox),
        outbox=outbox,
        inbox=Inbox(orm.inbox, CONSUMER_GROUP),
        progress_event=saga_progressed,
        unsent_alert_s=settings.unsent_alert_s,
        meter_provider=meter_provider,
    )
    return SagaApp(settings, kafka, engine, orchestrator, outbox)
