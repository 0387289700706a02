"""Checkout: pay with a test card, exactly once.

The checkout page carries a fresh attempt id, sent as the order's `Idempotency-Key`: a double
click, a second tab's submit or a browser's retry of the same page all send the same key with
the same body (the cart's items sorted by sku), so the order API places one order; the
session also remembers which order each attempt placed, so a submit that comes after the cart
was emptied finds its order instead of an empty cart."""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from typing import Any

from flask import Blueprint, flash, redirect, request, session, url_for
from werkzeug.wrappers import Response

from storefront.cart import Cart
from storefront.pages.cart import priced_lines
from storefront.pages.common import shop
from storefront.rendering import render
from storefront.shop_api import ApiProblem, ApiUnavailable
from storefront.wording import TEST_CARDS

blueprint = Blueprint("checkout", __name__, url_prefix="/checkout")
PLACED = "placed_orders"
#: How many attempts the session remembers (the newest ones).
REMEMBERED_ATTEMPTS = 10
UNKNOWN_OUTCOME = (
    "The shop did not answer, so we cannot tell whether your order was placed. Placing it "
    "again is safe: this page will never place it twice."
)


def placed_order(store: MutableMapping[str, Any], attempt: str) -> str | None:
    placed = store.get(PLACED)
    return placed.get(attempt) if isinstance(placed, dict) else None


def remember(store: MutableMapping[str, Any], attempt: str, order_id: str) -> None:
    placed = dict(store.get(PLACED) or {})
    placed[attempt] = order_id
    store[PLACED] = dict(list(placed.items())[-REMEMBERED_ATTEMPTS:])


def _attempt_of(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _form(
    error: str | None = None,
    method: str = "tok_visa",
    *,
    attempt: str | None = None,
    status: int = 422,
) -> tuple[str, int] | Response:
    """The checkout page; `attempt` keeps the key of an attempt whose outcome is unknown."""
    lines, gone = priced_lines(Cart(session))
    if not lines and not gone:
        flash("Your cart is empty: add something before checking out.", "error")
        return redirect(url_for("cart.page"))
    page = render(
        "checkout.html",
        lines=lines,
        gone=gone,
        total_cents=sum(line.total_cents for line in lines),
        cards=TEST_CARDS,
        chosen=method,
        attempt=attempt or str(uuid.uuid4()),
        error=error,
    )
    return page, status if error else 200


@blueprint.get("")
def page() -> tuple[str, int] | Response:
    return _form()


@blueprint.post("")
def place() -> tuple[str, int] | Response:
    attempt = _attempt_of(request.form.get("attempt", ""))
    method = request.form.get("payment_method", "")
    if attempt is None:
        return _form("This checkout form has expired: check your order and place it again.")
    if (already := placed_order(session, attempt)) is not None:
        return redirect(url_for("orders.detail", order_id=already))
    if method not in TEST_CARDS:
        return _form("Choose one of the test cards to pay with.")
    cart = Cart(session)
    if not cart.quantities:
        flash("Your cart is empty: add something before checking out.", "error")
        return redirect(url_for("cart.page"))
    try:
        placed = shop().place_order(cart.order_items(), method, attempt)
    except ApiProblem as problem:
        if problem.status == 401:
            raise
        return _form(f"The order was not placed: {problem.message}", method)
    except ApiUnavailable:
        # The order may or may not have been placed: the same key makes a retry safe.
        return _form(UNKNOWN_OUTCOME, method, attempt=attempt, status=503)
    order_id = str(placed["order_id"])
    remember(session, attempt, order_id)
    cart.clear()
    return redirect(url_for("orders.detail", order_id=order_id))
