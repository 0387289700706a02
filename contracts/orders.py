"""The order service's events and the commands the sagas send it."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from contracts.common import Cents, Message, PricedLineItem
from eventing import topics
from eventing.registry import registry

RejectionReason = Literal[
    "OUT_OF_STOCK", "PAYMENT_DECLINED", "INSUFFICIENT_FUNDS", "TIMEOUT", "PRODUCT_UNAVAILABLE"
]


class _OrderMessage(Message):
    aggregate_type: ClassVar[str] = "Order"
    aggregate_key: ClassVar[str] = "order_id"

    order_id: str


class _OrderEvent(_OrderMessage):
    topic: ClassVar[str] = topics.ORDERS


@registry.register
class OrderCreated(_OrderEvent):
    """Starts the checkout saga."""

    event_type: ClassVar[str] = "OrderCreated"

    customer_id: str
    items: list[PricedLineItem] = Field(min_length=1)
    total_cents: Cents
    payment_method: str


@registry.register
class OrderApproved(_OrderEvent):
    event_type: ClassVar[str] = "OrderApproved"


@registry.register
class OrderRejected(_OrderEvent):
    event_type: ClassVar[str] = "OrderRejected"

    reason: RejectionReason


@registry.register
class OrderCancellationRequested(_OrderEvent):
    """Starts the cancel saga for an approved order."""

    event_type: ClassVar[str] = "OrderCancellationRequested"


@registry.register
class OrderCancelled(_OrderEvent):
    event_type: ClassVar[str] = "OrderCancelled"


class _OrderCommand(_OrderMessage):
    topic: ClassVar[str] = topics.ORDER_COMMANDS


@registry.register
class ApproveOrder(_OrderCommand):
    event_type: ClassVar[str] = "ApproveOrder"


@registry.register
class RejectOrder(_OrderCommand):
    event_type: ClassVar[str] = "RejectOrder"

    reason: RejectionReason


@registry.register
class CompleteCancellation(_OrderCommand):
    event_type: ClassVar[str] = "CompleteCancellation"
