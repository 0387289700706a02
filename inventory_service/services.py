"""Inventory's use cases. Each runs inside an open unit of work and announces its events with
`uow.emit`; the caller (a route, or the dispatcher for a saga's command) commits, once. For a
command, the unit of work makes the command in hand the cause of every event emitted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts import inventory as events
from inventory_service.domain import (
    Product,
    ProductExists,
    ProductNotFound,
    Reservation,
    ReservationStateError,
    ReservationStatus,
    decide_reservation,
    merge_items,
)
from inventory_service.uow import InventoryUnitOfWork

Move = Callable[[Product, int], Product]


def _state(event_type: type, product: Product, **extra: Any) -> events.Message:
    return event_type(
        sku=product.sku,
        version=product.version,
        name=product.name,
        description=product.description,
        category=product.category,
        price_cents=product.price_cents,
        attributes=product.attributes,
        stock_on_hand=product.on_hand,
        stock_reserved=product.reserved,
        stock_available=product.available,
        **extra,
    )


def _live(uow: InventoryUnitOfWork, sku: str, *, lock: bool = False) -> Product:
    product = uow.products.get(sku, lock=lock)
    if product is None or product.deleted:
        raise ProductNotFound(sku)
    return product


def create_product(uow: InventoryUnitOfWork, product: Product) -> Product:
    if not uow.products.add(product):
        raise ProductExists(product.sku)
    uow.emit(_state(events.ProductCreated, product))
    return product


def get_product(uow: InventoryUnitOfWork, sku: str) -> Product:
    return _live(uow, sku)


def list_products(
    uow: InventoryUnitOfWork, category: str | None, page: int, page_size: int
) -> tuple[list[Product], int]:
    return uow.products.page(category=category, page=page, page_size=page_size)


def update_product(uow: InventoryUnitOfWork, sku: str, changes: dict[str, Any]) -> Product:
    product = _live(uow, sku, lock=True).updated(changes)
    uow.products.save(product)
    uow.emit(_state(events.ProductUpdated, product))
    return product


def restock(uow: InventoryUnitOfWork, sku: str, quantity: int) -> Product:
    product = _live(uow, sku, lock=True).restocked(quantity)
    uow.products.save(product)
    uow.emit(_state(events.StockChanged, product, reason="RESTOCKED"))
    return product


def delete_product(uow: InventoryUnitOfWork, sku: str) -> None:
    product = _live(uow, sku, lock=True).removed()
    uow.products.save(product)
    uow.emit(events.ProductDeleted(sku=sku, version=product.version))


def _stock_moved(
    uow: InventoryUnitOfWork,
    items: tuple[tuple[str, int], ...],
    order_id: str,
    reason: str,
    move: Move,
) -> None:
    """Apply `move(product, quantity)` to each item's product (locked in sku order)."""
    products = uow.products.lock_many([sku for sku, _ in items])
    for sku, quantity in items:
        product = products[sku]
        if product is None:
            continue
        moved = move(product, quantity)
        uow.products.save(moved)
        uow.emit(_state(events.StockChanged, moved, reason=reason, order_id=order_id))


def _reply_for(reservation: Reservation) -> events.Message:
    order_id = reservation.order_id
    match reservation.status:
        case ReservationStatus.RESERVED:
            return events.StockReserved(
                order_id=order_id,
                items=[{"sku": sku, "quantity": quantity} for sku, quantity in reservation.items],
            )
        case ReservationStatus.FAILED:
            return events.StockReservationFailed(
                order_id=order_id,
                reason=reservation.failure_reason,
                skus=list(reservation.failed_skus),
            )
        case ReservationStatus.COMMITTED:
            return events.StockCommitted(order_id=order_id)
        case ReservationStatus.RETURNED:
            return events.StockReturned(order_id=order_id)
    return events.StockReleased(order_id=order_id)


def reserve(uow: InventoryUnitOfWork, command: events.ReserveStock) -> None:
    """Hold every item for the order, or none. A repeated command for an order that already has
    a reservation re-sends the recorded outcome and changes nothing."""
    order_id = command.order_id
    existing = uow.reservations.get(order_id)
    if existing is not None:
        reply = _reply_for(existing)
        if existing.status in (ReservationStatus.COMMITTED, ReservationStatus.RETURNED):
            reply = events.StockReserved(
                order_id=order_id,
                items=[{"sku": sku, "quantity": quantity} for sku, quantity in existing.items],
            )
        uow.emit(reply)
        return
    merged = merge_items([(item.sku, item.quantity) for item in command.items])
    decision = decide_reservation(merged, uow.products.lock_many([sku for sku, _ in merged]))
    if decision.failure_reason is not None:
        reservation = Reservation(
            order_id,
            ReservationStatus.FAILED,
            merged,
            decision.failure_reason,
            decision.failed_skus,
        )
    else:
        reservation = Reservation(order_id, ReservationStatus.RESERVED, merged)
        for product in decision.products:
            uow.products.save(product)
            uow.emit(_state(events.StockChanged, product, reason="RESERVED", order_id=order_id))
    uow.reservations.add(reservation)
    uow.emit(_reply_for(reservation))


def release(uow: InventoryUnitOfWork, command: events.ReleaseStock) -> None:
    """Undo a reservation (compensation). Releasing an order never reserved (or whose
    reservation failed) records the release, so a ReserveStock arriving late cannot hold stock
    for it."""
    order_id = command.order_id
    reservation = uow.reservations.get(order_id)
    if reservation is None:
        uow.reservations.add(Reservation(order_id, ReservationStatus.RELEASED))
    elif reservation.status is ReservationStatus.FAILED:
        uow.reservations.save(Reservation(order_id, ReservationStatus.RELEASED, reservation.items))
    elif reservation.status is ReservationStatus.RESERVED:
        _stock_moved(
            uow,
            reservation.items,
            order_id,
            "RELEASED",
            lambda product, quantity: product.released(quantity),
        )
        uow.reservations.save(Reservation(order_id, ReservationStatus.RELEASED, reservation.items))
    elif reservation.status in (ReservationStatus.COMMITTED, ReservationStatus.RETURNED):
        raise ReservationStateError(f"order {order_id}'s stock was committed; return it instead")
    uow.emit(events.StockReleased(order_id=order_id))


def _advance(
    uow: InventoryUnitOfWork,
    order_id: str,
    *,
    source: ReservationStatus,
    target: ReservationStatus,
    done: tuple[ReservationStatus, ...],
    move: Move,
    reply: events.Message,
) -> None:
    """Move a reservation from `source` to `target`, moving its stock with `move`; a repeat
    (already at `target`, or a later state in `done`) changes nothing and sends the reply
    again."""
    reservation = uow.reservations.get(order_id)
    if reservation is None or reservation.status not in (source, target, *done):
        state = "none" if reservation is None else reservation.status
        raise ReservationStateError(
            f"cannot move order {order_id}'s reservation from {state} to {target}"
        )
    if reservation.status is source:
        _stock_moved(uow, reservation.items, order_id, target.value, move)
        uow.reservations.save(Reservation(order_id, target, reservation.items))
    uow.emit(reply)


def commit(uow: InventoryUnitOfWork, command: events.CommitStock) -> None:
    """Reserved stock leaves the warehouse (the order was approved)."""
    order_id = command.order_id
    _advance(
        uow,
        order_id,
        source=ReservationStatus.RESERVED,
        target=ReservationStatus.COMMITTED,
        done=(ReservationStatus.RETURNED,),
        move=lambda product, quantity: product.committed(quantity),
        reply=events.StockCommitted(order_id=order_id),
    )


def return_stock(uow: InventoryUnitOfWork, command: events.ReturnStock) -> None:
    """Committed stock comes back on hand (the approved order was cancelled)."""
    order_id = command.order_id
    _advance(
        uow,
        order_id,
        source=ReservationStatus.COMMITTED,
        target=ReservationStatus.RETURNED,
        done=(),
        move=lambda product, quantity: product.returned(quantity),
        reply=events.StockReturned(order_id=order_id),
    )
