"""The checkout saga's messages for one order, as the engine's unit tests feed and read them."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts import inventory, orders, payment
from eventing.registry import Event

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ORDER = "order-1"


def names(commands: list[Event]) -> list[str]:
    return [type(c).__name__ for c in commands]


def created(payment_method: str = "tok_timeout") -> orders.OrderCreated:
    return orders.OrderCreated(
        order_id=ORDER,
        customer_id="c1",
        payment_method=payment_method,
        total_cents=1998,
        items=[{"sku": "SKU-1", "quantity": 2, "unit_price_cents": 999}],
    )


def reserved() -> inventory.StockReserved:
    return inventory.StockReserved(order_id=ORDER, items=[{"sku": "SKU-1", "quantity": 2}])


def reservation_failed() -> inventory.StockReservationFailed:
    return inventory.StockReservationFailed(order_id=ORDER, reason="OUT_OF_STOCK", skus=["SKU-1"])


def released() -> inventory.StockReleased:
    return inventory.StockReleased(order_id=ORDER)


def authorized() -> payment.PaymentAuthorized:
    return payment.PaymentAuthorized(order_id=ORDER, payment_id="p1", amount_cents=1998)


def declined() -> payment.PaymentDeclined:
    return payment.PaymentDeclined(
        order_id=ORDER, payment_id="p1", amount_cents=1998, reason="PAYMENT_DECLINED"
    )


def voided() -> payment.PaymentVoided:
    return payment.PaymentVoided(order_id=ORDER, payment_id="p1", amount_cents=0)


def captured() -> payment.PaymentCaptured:
    return payment.PaymentCaptured(order_id=ORDER, payment_id="p1", amount_cents=1998)


def committed() -> inventory.StockCommitted:
    return inventory.StockCommitted(order_id=ORDER)


def approved() -> orders.OrderApproved:
    return orders.OrderApproved(order_id=ORDER)


def rejected() -> orders.OrderRejected:
    return orders.OrderRejected(order_id=ORDER, reason="TIMEOUT")
