"""The cart: add, change a quantity, remove; priced from the catalogue each time it is shown."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, session, url_for
from werkzeug.wrappers import Response

from storefront.cart import Cart, CartError, CartLine, parse_quantity, total_cents, valid_sku
from storefront.pages.common import shop
from storefront.rendering import render
from storefront.shop_api import ApiProblem

blueprint = Blueprint("cart", __name__, url_prefix="/cart")


def priced_lines(cart: Cart) -> tuple[list[CartLine], list[str]]:
    """The cart's lines at today's prices, and the skus the catalogue no longer sells."""
    lines, gone = [], []
    api = shop()
    for sku, quantity in cart.quantities.items():
        try:
            product = api.product(sku)
        except ApiProblem as problem:
            if problem.status != 404:
                raise
            gone.append(sku)
            continue
        lines.append(
            CartLine(
                sku=sku,
                name=product["name"],
                quantity=quantity,
                unit_price_cents=int(product["price_cents"]),
                stock_available=int(product["stock_available"]),
            )
        )
    return lines, gone


@blueprint.get("")
def page() -> str:
    lines, gone = priced_lines(Cart(session))
    return render("cart.html", lines=lines, gone=gone, total_cents=total_cents(lines))


def _changed(action: str, sku: str) -> Response:
    """Apply a cart change from a form; a bad one is a message, never an error page."""
    cart = Cart(session)
    try:
        if action == "add":
            product = shop().product(valid_sku(sku))
            cart.add(sku, parse_quantity(request.form.get("quantity", "1")))
            flash(f"Added {product['name']} to your cart.", "ok")
        elif action == "set":
            cart.set(sku, parse_quantity(request.form.get("quantity")))
            flash("Quantity updated.", "ok")
        else:
            cart.remove(sku)
            flash("Removed from your cart.", "ok")
    except CartError as error:
        flash(f"Your cart was not changed: {error}.", "error")
    except ApiProblem as problem:
        text = "that product is not sold here" if problem.status == 404 else problem.message
        flash(f"Your cart was not changed: {text}.", "error")
    if action == "add" and request.form.get("back") == "product":
        return redirect(url_for("catalogue.product", sku=sku))
    return redirect(url_for("cart.page"))


@blueprint.post("/add/<sku>")
def add(sku: str) -> Response:
    return _changed("add", sku)


@blueprint.post("/set/<sku>")
def set_quantity(sku: str) -> Response:
    return _changed("set", sku)


@blueprint.post("/remove/<sku>")
def remove(sku: str) -> Response:
    return _changed("remove", sku)
