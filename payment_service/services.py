"""Payment's use cases. Each runs inside an open unit of work, which commits it; a reply is
`uow.emit(reply)`, and the unit of work makes the command in hand its cause."""

from __future__ import annotations

import uuid

from contracts import payment as messages
from payment_service.domain import (
    Payment,
    PaymentProcessor,
    PaymentStateError,
    PaymentStatus,
    outcome_of,
)
from payment_service.uow import PaymentUnitOfWork


def _reply(payment: Payment) -> messages.Message | None:
    """What the saga was told about this payment's authorisation (None: nothing yet)."""
    common = {
        "order_id": payment.order_id,
        "payment_id": payment.payment_id,
        "amount_cents": payment.amount_cents,
    }
    match payment.status:
        case PaymentStatus.AUTHORIZED | PaymentStatus.CAPTURED | PaymentStatus.REFUNDED:
            return messages.PaymentAuthorized(**common)
        case PaymentStatus.DECLINED:
            return messages.PaymentDeclined(**common, reason=payment.decline_reason)
        case PaymentStatus.VOIDED:
            return messages.PaymentVoided(**common)
    return None


def _send(uow: PaymentUnitOfWork, reply: messages.Message | None) -> None:
    if reply is not None:
        uow.emit(reply)


def authorize(
    uow: PaymentUnitOfWork, command: messages.AuthorizePayment, processor: PaymentProcessor
) -> None:
    """Ask the processor once per order; a repeated command re-sends the recorded outcome."""
    existing = uow.payments.for_order(command.order_id)
    if existing is None:
        status, reason = outcome_of(
            processor.authorize(command.payment_method, command.amount_cents)
        )
        payment = Payment(
            str(uuid.uuid4()),
            command.order_id,
            command.customer_id,
            command.amount_cents,
            status,
            reason,
        )
        if uow.payments.add(payment):
            _send(uow, _reply(payment))
            return
        existing = uow.payments.for_order(command.order_id)
    assert existing is not None
    _send(uow, _reply(existing))


def capture(uow: PaymentUnitOfWork, command: messages.CapturePayment) -> None:
    payment = _payment_of(uow, command.order_id).captured()
    uow.payments.save(payment)
    uow.emit(
        messages.PaymentCaptured(
            order_id=payment.order_id,
            payment_id=payment.payment_id,
            amount_cents=payment.amount_cents,
        )
    )


def void(uow: PaymentUnitOfWork, command: messages.VoidPayment) -> None:
    """Compensation. With no payment yet, a VOIDED one of nothing is recorded, so that no
    authorisation can follow for the order."""
    order_id = command.order_id
    payment = uow.payments.for_order(order_id)
    if payment is None:
        payment = Payment(str(uuid.uuid4()), order_id, "", 0, PaymentStatus.VOIDED)
        if not uow.payments.add(payment):
            payment = _payment_of(uow, order_id).voided()
            uow.payments.save(payment)
    else:
        payment = payment.voided()
        uow.payments.save(payment)
    uow.emit(
        messages.PaymentVoided(
            order_id=order_id, payment_id=payment.payment_id, amount_cents=payment.amount_cents
        )
    )


def refund(uow: PaymentUnitOfWork, command: messages.RefundPayment) -> None:
    payment = _payment_of(uow, command.order_id).refunded()
    uow.payments.save(payment)
    uow.emit(
        messages.PaymentRefunded(
            order_id=payment.order_id,
            payment_id=payment.payment_id,
            amount_cents=payment.amount_cents,
        )
    )


def _payment_of(uow: PaymentUnitOfWork, order_id: str) -> Payment:
    payment = uow.payments.for_order(order_id)
    if payment is None:
        raise PaymentStateError(f"order {order_id} has no payment")
    return payment


def visible_payments(uow: PaymentUnitOfWork, order_id: str) -> list[Payment]:
    """The order's payments as the storefront sees them: a pending attempt is not a payment."""
    payment = uow.payments.for_order(order_id, lock=False)
    return [] if payment is None or payment.status is PaymentStatus.PENDING else [payment]
