"""The customer's orders: history, one order with its checkout's steps as they happen (the
progress panel polls itself with htmx until the order has settled), and cancelling."""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, abort, flash, redirect, request, session, url_for
from werkzeug.wrappers import Response

from storefront.pages.common import page_number, settings, shop
from storefront.rendering import render
from storefront.shop_api import ApiProblem, ApiUnavailable
from storefront.wording import saga_steps, steps_title

blueprint = Blueprint("orders", __name__, url_prefix="/orders")
CANCELLING = "cancelling"
FINAL = {"APPROVED", "REJECTED", "CANCELLED"}
#: The saga view on an order comes one hop after the order's own status.
SAGA_SETTLED = {"COMPLETED", "ABORTED", "COMPENSATION_FAILED"}


def _cancelling() -> list[str]:
    found = session.get(CANCELLING)
    return list(found) if isinstance(found, list) else []


def settled(order: dict[str, Any], payments: list[dict[str, Any]], cancelling: bool) -> bool:
    """Whether nothing more will change that the customer is waiting to see: the order is
    final, its saga view caught up, and a cancellation asked for has refunded the payment."""
    if order["status"] not in FINAL:
        return False
    if cancelling:
        return order["status"] == "CANCELLED" and all(p["status"] != "CAPTURED" for p in payments)
    saga = order.get("saga") or {}
    return saga.get("state") in SAGA_SETTLED


def _order_or_404(order_id: str) -> dict[str, Any]:
    if len(order_id) > 200:
        abort(404, description="There is no such order.")
    try:
        return shop().order(order_id)
    except ApiProblem as problem:
        if problem.status in (404, 422):
            abort(404, description="There is no such order among yours.")
        raise


def _progress_context(order_id: str) -> dict[str, Any]:
    order = _order_or_404(order_id)
    payments = shop().payments(order_id)
    cancelling = order_id in _cancelling() and order["status"] != "REJECTED"
    steps = saga_steps(order.get("saga"))
    return {
        "order": order,
        "payments": payments,
        "steps": steps,
        "steps_title": steps_title(steps),
        "cancelling": cancelling,
        "settled": settled(order, payments, cancelling),
    }


@blueprint.get("")
def index() -> str:
    page = page_number(request.args.get("page"))
    page_size = settings().page_size
    found = shop().orders(page, page_size)
    pages = max(1, math.ceil(int(found.get("total", 0)) / page_size))
    return render("orders.html", orders=found.get("items", []), page=page, pages=pages)


def product_names(skus: list[str]) -> dict[str, str]:
    """The catalogue's names of an order's products; a product no longer sold keeps its sku."""
    names = {}
    for sku in dict.fromkeys(skus):
        try:
            names[sku] = str(shop().product(sku)["name"])
        except ApiProblem:
            names[sku] = sku
    return names


@blueprint.get("/<order_id>")
def detail(order_id: str) -> str:
    context = _progress_context(order_id)
    names = product_names([item["sku"] for item in context["order"]["items"]])
    return render("order.html", names=names, **context)


@blueprint.get("/<order_id>/progress")
def progress(order_id: str) -> str:
    """The progress panel alone, for htmx to swap in; while an API does not answer it says so
    and keeps polling instead of failing the page."""
    try:
        return render("_progress.html", **_progress_context(order_id))
    except ApiUnavailable:
        return render("_progress_lost.html", order_id=order_id)


@blueprint.post("/<order_id>/cancel")
def cancel(order_id: str) -> Response:
    _order_or_404(order_id)
    try:
        shop().cancel(order_id)
    except ApiProblem as problem:
        if problem.status == 404:
            abort(404, description="There is no such order among yours.")
        if problem.status != 409:
            raise
        flash("This order can no longer be cancelled: only an approved order can.", "error")
        return redirect(url_for("orders.detail", order_id=order_id))
    session[CANCELLING] = [*_cancelling()[-9:], order_id]
    flash("Cancellation requested: your payment is being refunded.", "ok")
    return redirect(url_for("orders.detail", order_id=order_id))
