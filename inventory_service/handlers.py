"""Commands from the sagas, each applied once: the inbox claim and the effects share one
transaction, and the reply goes out through the outbox in it."""

from __future__ import annotations

from collections.abc import Callable

from contracts import inventory as commands
from eventing.registry import Decoded
from inventory_service import services
from inventory_service.uow import InventoryUnitOfWork


def command_handler(uow_factory: Callable[[], InventoryUnitOfWork]) -> Callable[[Decoded], None]:
    def handle(decoded: Decoded) -> None:
        command, envelope = decoded.event, decoded.envelope
        with uow_factory() as uow:
            if not uow.inbox.claim(uow.session, envelope.event_id, envelope.type):
                return
            match command:
                case commands.ReserveStock():
                    items = [(item.sku, item.quantity) for item in command.items]
                    services.reserve(uow, command.order_id, items, envelope)
                case commands.ReleaseStock():
                    services.release(uow, command.order_id, envelope)
                case commands.CommitStock():
                    services.commit(uow, command.order_id, envelope)
                case commands.ReturnStock():
                    services.return_stock(uow, command.order_id, envelope)
                case _:
                    return  # another service's message on a shared topic: not ours to apply
            uow.commit()

    return handle
