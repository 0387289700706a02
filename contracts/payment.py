"""Payment's events and the commands it accepts; one payment per order."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from contracts.common import Cents, Message
from eventing import topics
from eventing.registry import registry


class _PaymentMessage(Message):
    aggregate_type: ClassVar[str] = "Payment"
    aggregate_key: ClassVar[str] = "order_id"

    order_id: str


class _PaymentEvent(_PaymentMessage):
    topic: ClassVar[str] = topics.PAYMENTS

    payment_id: str
    amount_cents: Cents


@registry.register
class PaymentAuthorized(_PaymentEvent):
    event_type: ClassVar[str] = "PaymentAuthorized"


DeclineReason = Literal["PAYMENT_DECLINED", "INSUFFICIENT_FUNDS"]


@registry.register
class PaymentDeclined(_PaymentEvent):
    event_type: ClassVar[str] = "PaymentDeclined"

    reason: DeclineReason


@registry.register
class PaymentCaptured(_PaymentEvent):
    event_type: ClassVar[str] = "PaymentCaptured"


@registry.register
class PaymentVoided(_PaymentEvent):
    event_type: ClassVar[str] = "PaymentVoided"


@registry.register
class PaymentRefunded(_PaymentEvent):
    event_type: ClassVar[str] = "PaymentRefunded"


class _PaymentCommand(_PaymentMessage):
    topic: ClassVar[str] = topics.PAYMENT_COMMANDS


@registry.register
class AuthorizePayment(_PaymentCommand):
    """Replies: PaymentAuthorized or PaymentDeclined; none at all for `tok_timeout`."""

    event_type: ClassVar[str] = "AuthorizePayment"

    customer_id: str
    amount_cents: Cents = Field(gt=0)
    payment_method: str


@registry.register
class CapturePayment(_PaymentCommand):
    event_type: ClassVar[str] = "CapturePayment"


@registry.register
class VoidPayment(_PaymentCommand):
    """Compensation of an authorisation. Reply: PaymentVoided, also when nothing was authorised."""

    event_type: ClassVar[str] = "VoidPayment"


@registry.register
class RefundPayment(_PaymentCommand):
    event_type: ClassVar[str] = "RefundPayment"
