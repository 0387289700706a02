"""Orders: find one by id or a customer's; an order with its payments, stock reservation,
sagas and trace. Orders and payments come from the services' own APIs, the reservation from
the inventory service's database (read only), the sagas from `shopctl.sagas`."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, redirect, request, url_for
from werkzeug.wrappers import Response

from console.pages.common import ServiceUnavailable, service_get, settings, trace_of_order
from console.rendering import render
from shopctl import sagas as saga_operations
from shopctl.reservations import reservation_of
from shopctl.timeline import build_timeline

blueprint = Blueprint("orders", __name__, url_prefix="/orders")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@blueprint.get("")
def index() -> Response | str | tuple[str, int]:
    query = request.args.get("q", "").strip()
    if not query:
        return render("orders.html", query="", orders=None, total=0, error=None)
    if len(query) > 200 or not query.isprintable():
        abort(400, description="an order id or a customer id is printable text up to 200 long")
    base = settings().order_service_url
    try:
        if _is_uuid(query) and service_get(base, f"/orders/{query}") is not None:
            return redirect(url_for("orders.detail", order_id=query))
        found = service_get(base, "/orders", {"customer_id": query, "page_size": 100})
    except ServiceUnavailable as error:
        return render("orders.html", query=query, orders=None, total=0, error=str(error)), 503
    return render(
        "orders.html",
        query=query,
        orders=found["items"] if found else [],
        total=found["total"] if found else 0,
        error=None,
    )


@blueprint.get("/<order_id>")
def detail(order_id: str) -> str | tuple[str, int]:
    if len(order_id) > 200:
        abort(404, description="no such order")
    try:
        order = service_get(settings().order_service_url, f"/orders/{order_id}")
        payments = (
            service_get(settings().payment_service_url, "/payments", {"order_id": order_id}) or {}
        ).get("items", [])
    except ServiceUnavailable as error:
        abort(503, description=str(error))
    if order is None:
        abort(404, description=f"no order {order_id}")
    sagas = [
        (saga, build_timeline(saga_operations.definition(saga.saga_type), saga))
        for saga in saga_operations.for_order(order_id)
    ]
    return render(
        "order.html",
        order=order,
        payments=payments,
        reservation=reservation_of(order_id),
        sagas=sagas,
        trace_id=trace_of_order(order_id),
    )
