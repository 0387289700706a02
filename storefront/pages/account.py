"""Signing in (locally: choose a customer name) and out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, session, url_for
from werkzeug.wrappers import Response

from storefront.identity import SignInError, customer_id_for, sign_in
from storefront.pages.common import minter
from storefront.rendering import render
from storefront.security import safe_next

blueprint = Blueprint("account", __name__)


@blueprint.route("/sign-in", methods=["GET", "POST"], endpoint="sign_in")
def sign_in_page() -> Response | str | tuple[str, int]:
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render("sign_in.html", next=target, error=None, name="")
    name = request.form.get("name", "")
    try:
        customer_id = customer_id_for(name)
    except SignInError as error:
        return render("sign_in.html", next=target, error=str(error), name=name[:80]), 400
    cart = session.get("cart")
    sign_in(session, customer_id, minter())
    if cart:
        session["cart"] = cart  # what was put in the cart before signing in stays in it
    flash(f"Signed in as {customer_id}.", "ok")
    return redirect(target)


@blueprint.post("/sign-out")
def sign_out() -> Response:
    session.clear()
    flash("Signed out.", "ok")
    return redirect(url_for("catalogue.search"))
