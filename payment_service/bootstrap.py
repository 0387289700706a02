"""The one place that wires payment: settings -> database, outbox, Kafka, processor, API."""

from __future__ import annotations

from eventing import topics
from eventing.config import KafkaSettings
from eventing.consumer import Handler
from payment_service import orm
from payment_service.api import build_api
from payment_service.config import Settings, load_settings
from payment_service.domain import PaymentProcessor, SimulatedProcessor
from payment_service.handlers import command_handler
from payment_service.uow import CONSUMER_NAME, PaymentUnitOfWork
from servicekit.api import Api
from servicekit.runtime import ServiceRuntime


class PaymentApp(ServiceRuntime[PaymentUnitOfWork]):
    consumer_group = CONSUMER_NAME
    subscribed_topics = (topics.PAYMENT_COMMANDS,)
    processor: PaymentProcessor = SimulatedProcessor()

    def api(self) -> Api:
        return build_api(
            self.uow_factory, lambda: self.settings.admin_token, self.customer_token_verifier()
        )

    def handler(self) -> Handler:
        return command_handler(self.uow_factory, self.processor)


def bootstrap(settings: Settings | None = None, kafka: KafkaSettings | None = None) -> PaymentApp:
    return PaymentApp(
        settings or load_settings(), kafka, orm.outbox, PaymentUnitOfWork, orm.holds, orm.inbox
    )
