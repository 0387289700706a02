"""The one place that wires the order service: settings -> database, outbox, Kafka, API."""

from __future__ import annotations

from eventing import topics
from eventing.config import KafkaSettings
from eventing.consumer import Handler
from order_service import orm
from order_service.api import OrderRateLimit, build_api
from order_service.config import Settings, load_settings
from order_service.handlers import message_handler
from order_service.uow import CONSUMER_NAME, OrderUnitOfWork
from servicekit.api import Api
from servicekit.runtime import ServiceRuntime


class OrderApp(ServiceRuntime[OrderUnitOfWork]):
    settings: Settings
    consumer_group = CONSUMER_NAME
    subscribed_topics = (topics.PRODUCTS, topics.SAGA_PROGRESS, topics.ORDER_COMMANDS)

    def api(self) -> Api:
        return build_api(
            self.uow_factory,
            lambda: self.settings.admin_token,
            self.customer_token_verifier(),
            OrderRateLimit(self.settings.rate_limit_orders, self.settings.rate_limit_window_s),
        )

    def handler(self) -> Handler:
        return message_handler(self.uow_factory)


def bootstrap(settings: Settings | None = None, kafka: KafkaSettings | None = None) -> OrderApp:
    return OrderApp(
        settings or load_settings(), kafka, orm.outbox, OrderUnitOfWork, orm.holds, orm.inbox
    )
