"""The order service's use cases, run inside an open unit of work.

The API's use cases take the request's values; the worker's take `(uow, message)` and are
named for the message types they apply in `order_service.deployable.USE_CASES`. Approving,
rejecting and cancelling are the checkout and cancellation sagas' local steps
(`sagas.deployable.LOCAL_STEPS`): the orchestrator runs them in the transaction that applies
the saga's reply, and carries on with the reply they return. What they announce they
`uow.emit`: the framework makes it caused by the message in hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from contracts import inventory, orders
from eventing.registry import Event
from order_service.domain import (
    IdempotencyConflict,
    Order,
    OrderNotFound,
    OrderStatus,
    fingerprint,
    price_items,
)
from order_service.metrics import order_changed
from order_service.uow import OrderUnitOfWork

ProductState = inventory.ProductCreated | inventory.ProductUpdated | inventory.StockChanged
"""The catalogue events that carry a product's whole state (all but ProductDeleted)."""

StartSaga = Callable[[OrderUnitOfWork, Event], None]
"""Starts the saga an event begins (OrderCreated: checkout; OrderCancellationRequested:
cancellation) in the unit of work that emits it: the order's orchestrator, whose rows are in the
same database (`sagas.deployable.build_orchestrator`)."""


def place_order(
    uow: OrderUnitOfWork, key: str, request: dict[str, Any], start_saga: StartSaga
) -> tuple[Order, bool]:
    """A new PENDING order priced from the catalogue, with OrderCreated emitted and its checkout
    saga started in the same transaction; or, for a key used before with the same request, that
    order (False: not new)."""
    requested = [(item["sku"], item["quantity"]) for item in request["items"]]
    items = price_items(requested, uow.catalogue.entries([sku for sku, _ in requested]))
    order = Order(
        order_id=str(uuid.uuid4()),
        customer_id=request["customer_id"],
        payment_method=request["payment_method"],
        items=items,
    )
    earlier = uow.idempotency_keys.claim(key, fingerprint(request), order.order_id)
    if earlier is not None:
        earlier_fingerprint, earlier_order_id = earlier
        if earlier_fingerprint != fingerprint(request):
            raise IdempotencyConflict(key)
        return get_order(uow, earlier_order_id), False
    uow.orders.add(order)
    created = orders.OrderCreated(
        order_id=order.order_id,
        customer_id=order.customer_id,
        payment_method=order.payment_method,
        total_cents=order.total_cents,
        items=[
            {"sku": i.sku, "quantity": i.quantity, "unit_price_cents": i.unit_price_cents}
            for i in items
        ],
    )
    uow.emit(created)
    start_saga(uow, created)
    return order, True


def get_order(uow: OrderUnitOfWork, order_id: str, *, lock: bool = False) -> Order:
    order = uow.orders.get(order_id, lock=lock)
    if order is None:
        raise OrderNotFound(order_id)
    return order


def request_cancellation(
    uow: OrderUnitOfWork, order_id: str, customer_id: str, start_saga: StartSaga
) -> Order:
    """Start the cancellation saga that undoes an approved order; asking again changes nothing.
    Another customer's order is as unknown to `customer_id` as one that does not exist."""
    order = get_order(uow, order_id, lock=True)
    if order.customer_id != customer_id:
        raise OrderNotFound(order_id)
    if order.status is OrderStatus.APPROVED and order.cancellation_requested:
        return order
    order = order.cancellation_asked()
    uow.orders.save(order)
    asked = orders.OrderCancellationRequested(order_id=order_id)
    uow.emit(asked)
    start_saga(uow, asked)
    return order


def approve_order(uow: OrderUnitOfWork, command: orders.ApproveOrder) -> Event:
    return _transition(
        uow, command.order_id, Order.approved, orders.OrderApproved(order_id=command.order_id)
    )


def reject_order(uow: OrderUnitOfWork, command: orders.RejectOrder | orders.RejectOrderV2) -> Event:
    """Either version of the command: v1 is read as v2 (`contracts.orders.upcast_reject_order`)."""
    code = orders.upcast_reject_order(command).rejection.code
    return _transition(
        uow,
        command.order_id,
        lambda order: order.rejected(code),
        orders.OrderRejected(order_id=command.order_id, reason=code),
    )


def complete_cancellation(uow: OrderUnitOfWork, command: orders.CompleteCancellation) -> Event:
    return _transition(
        uow, command.order_id, Order.cancelled, orders.OrderCancelled(order_id=command.order_id)
    )


def _transition(
    uow: OrderUnitOfWork, order_id: str, change: Callable[[Order], Order], event: Event
) -> Event:
    """Move the order and announce it with `event`, which is returned; an order already there
    (a step applied again) changes nothing and announces nothing again, and answers the same."""
    order = get_order(uow, order_id, lock=True)
    changed = change(order)
    if changed != order:
        uow.orders.save(changed)
        order_changed(uow, order, changed)
        uow.emit(event)
    return event


def apply_product(uow: OrderUnitOfWork, event: ProductState) -> None:
    """Keep the local catalogue at each product's newest version (older events are ignored)."""
    uow.catalogue.apply(
        event.sku,
        event.version,
        {"name": event.name, "price_cents": event.price_cents, "deleted": False},
    )


def apply_product_deleted(uow: OrderUnitOfWork, event: inventory.ProductDeleted) -> None:
    """A deleted product stays in the catalogue, marked so, at its version: an older event
    arriving late cannot bring it back."""
    uow.catalogue.apply(event.sku, event.version, {"deleted": True, "name": "", "price_cents": 0})
