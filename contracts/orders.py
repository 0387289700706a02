"""The order service's events and the commands the sagas send it."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class Rejection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: RejectionReason
    detail: str = Field(default="", max_length=500)
    """For people reading the command (the saga's log, a dead letter); the order keeps the code."""


@registry.register
class RejectOrderV2(_OrderCommand):
    """RejectOrder, version 2: the reason becomes a `rejection` with a code and a detail.

    Renaming a field breaks version 1, so this is a new version beside it: messages of v1 stay
    in `orders.commands` for its retention, and the order service reads both, turning a v1 into
    a v2 with `upcast_reject_order` before applying it. The orchestrator still sends v1.
    """

    event_type: ClassVar[str] = "RejectOrder"
    schema_version: ClassVar[int] = 2

    rejection: Rejection


def upcast_reject_order(command: RejectOrder | RejectOrderV2) -> RejectOrderV2:
    """Either version of RejectOrder as the newest: what a v1 meant, in v2's shape."""
    if isinstance(command, RejectOrderV2):
        return command
    return RejectOrderV2(order_id=command.order_id, rejection=Rejection(code=command.reason))


@registry.register
class CompleteCancellation(_OrderCommand):
    event_type: ClassVar[str] = "CompleteCancellation"
