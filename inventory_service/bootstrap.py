"""The one place that wires inventory: settings -> database, outbox, Kafka, API, worker."""

from __future__ import annotations

from eventing import topics
from eventing.config import KafkaSettings
from eventing.consumer import Handler
from inventory_service import orm
from inventory_service.api import build_api
from inventory_service.config import Settings, load_settings
from inventory_service.handlers import command_handler
from inventory_service.uow import CONSUMER_NAME, InventoryUnitOfWork
from servicekit.api import Api
from servicekit.runtime import ServiceRuntime


class InventoryApp(ServiceRuntime[InventoryUnitOfWork]):
    consumer_group = CONSUMER_NAME
    subscribed_topics = (topics.INVENTORY_COMMANDS,)

    def api(self) -> Api:
        return build_api(self.uow_factory, lambda: self.settings.admin_token)

    def handler(self) -> Handler:
        return command_handler(self.uow_factory)


def bootstrap(settings: Settings | None = None, kafka: KafkaSettings | None = None) -> InventoryApp:
    return InventoryApp(
        settings or load_settings(), kafka, orm.outbox, InventoryUnitOfWork, orm.holds, orm.inbox
    )
