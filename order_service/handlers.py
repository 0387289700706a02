"""What the order worker applies, each message once: catalogue events from inventory, saga
progress, and the sagas' commands."""

from __future__ import annotations

from collections.abc import Callable

from contracts import inventory, orders, sagas
from eventing.registry import Decoded
from order_service import services
from order_service.uow import OrderUnitOfWork

_CATALOGUE = (
    inventory.ProductCreated,
    inventory.ProductUpdated,
    inventory.StockChanged,
    inventory.ProductDeleted,
)
_COMMANDS = (
    orders.ApproveOrder,
    orders.RejectOrder,
    orders.RejectOrderV2,  # read beside v1: see contracts.orders.upcast_reject_order
    orders.CompleteCancellation,
)


def message_handler(uow_factory: Callable[[], OrderUnitOfWork]) -> Callable[[Decoded], None]:
    def handle(decoded: Decoded) -> None:
        message, envelope = decoded.event, decoded.envelope
        if not isinstance(message, (*_CATALOGUE, *_COMMANDS, sagas.SagaProgressed)):
            return  # another service's message on a shared topic
        with uow_factory() as uow:
            if not uow.inbox.claim(uow.session, envelope.event_id, envelope.type):
                return
            if isinstance(message, _CATALOGUE):
                services.apply_catalogue_event(uow, message)
            elif isinstance(message, sagas.SagaProgressed):
                services.apply_saga_progress(uow, message)
            else:
                services.apply_command(uow, message, envelope)
            uow.commit()

    return handle
