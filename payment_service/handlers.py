"""Commands from the sagas, each applied once (inbox claim and effects in one transaction)."""

from __future__ import annotations

from collections.abc import Callable

from contracts import payment as commands
from eventing.registry import Decoded
from payment_service import services
from payment_service.domain import PaymentProcessor
from payment_service.uow import PaymentUnitOfWork


def command_handler(
    uow_factory: Callable[[], PaymentUnitOfWork], processor: PaymentProcessor
) -> Callable[[Decoded], None]:
    def handle(decoded: Decoded) -> None:
        command, envelope = decoded.event, decoded.envelope
        with uow_factory() as uow:
            if not uow.inbox.claim(uow.session, envelope.event_id, envelope.type):
                return
            match command:
                case commands.AuthorizePayment():
                    services.authorize(uow, processor, command, envelope)
                case commands.CapturePayment():
                    services.capture(uow, command.order_id, envelope)
                case commands.VoidPayment():
                    services.void(uow, command.order_id, envelope)
                case commands.RefundPayment():
                    services.refund(uow, command.order_id, envelope)
                case _:
                    return
            uow.commit()

    return handle
