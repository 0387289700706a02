"""The session (a signed cookie: HttpOnly, SameSite=Lax), a CSRF token on every POST, and
the pages that need a signed-in customer (the cart's checkout and the orders)."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Flask, abort, redirect, request, session, url_for
from werkzeug.wrappers import Response

from storefront.config import StorefrontSettings
from storefront.identity import customer

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: Blueprints whose pages are the customer's own: reached only signed in.
SIGNED_IN_BLUEPRINTS = {"checkout", "orders"}


def csrf_token() -> str:
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return str(session[CSRF_FIELD])


def safe_next(target: str | None) -> str:
    """Only a path of this site: never an absolute or scheme-relative URL (an open redirect)."""
    if not target:
        return url_for("catalogue.search")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("catalogue.search")
    return target


def _check_csrf() -> None:
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = session.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(403, description="This form has expired: reload the page and try again.")


def _guard() -> Response | None:
    if request.method == "POST":
        _check_csrf()
    if request.blueprint not in SIGNED_IN_BLUEPRINTS or customer(session):
        return None
    target = url_for("account.sign_in", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        return Response(status=401, headers={"HX-Redirect": target})
    return redirect(target)


def install(app: Flask, settings: StorefrontSettings, signing_key: bytes | None) -> None:
    app.secret_key = settings.session_secret(signing_key)
    app.config.update(
        SESSION_COOKIE_NAME="storefront_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=int(settings.session_hours * 3600),
    )
    app.before_request(_guard)

    @app.context_processor
    def security_context() -> dict:
        return {"csrf_token": csrf_token, "customer": customer(session)}
