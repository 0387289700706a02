"""Who may use the console, and that every action is meant: a login with the admin token, a
signed session cookie (HttpOnly, SameSite=Lax), and a CSRF token checked on every POST.

The CSRF token lives in the session and is sent back by every form (a hidden field) and by
htmx (an `X-CSRF-Token` header set on `<body>`); SameSite=Lax already keeps other sites' POSTs
from carrying the cookie, the token covers older browsers and same-site attackers.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, redirect, request, session, url_for
from werkzeug.wrappers import Response

from console.config import ConsoleSettings
from console.rendering import render

blueprint = Blueprint("security", __name__)

#: Endpoints anyone may reach: the login itself, health, and the static assets it needs.
PUBLIC_ENDPOINTS = {"security.login", "healthz", "static", "assets"}
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def csrf_token() -> str:
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def operator() -> str | None:
    return session.get("operator")


def actor() -> str:
    """How the audit log names the logged-in operator."""
    return f"console:{operator()}"


def safe_next(target: str | None) -> str:
    """Only a path of this site: never an absolute or scheme-relative URL (an open redirect)."""
    if not target:
        return url_for("overview.page")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("overview.page")
    return target


def _check_csrf() -> None:
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = session.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(403, description="the form's security token is missing or stale: reload the page")


def _guard() -> Response | None:
    if request.method == "POST":
        _check_csrf()
    if request.endpoint in PUBLIC_ENDPOINTS or operator():
        return None
    login = url_for("security.login", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        return Response(status=401, headers={"HX-Redirect": login})
    return redirect(login)


def install(app: Flask, settings: ConsoleSettings) -> None:
    app.secret_key = settings.session_secret()
    app.config.update(
        SESSION_COOKIE_NAME="console_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=int(settings.session_hours * 3600),
    )
    app.before_request(_guard)
    app.register_blueprint(blueprint)

    @app.context_processor
    def security_context() -> dict:
        return {"csrf_token": csrf_token, "operator": operator()}


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    settings: ConsoleSettings = current_app.config["CONSOLE_SETTINGS"]
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render("login.html", next=target, error=None)
    name = request.form.get("operator", "").strip()
    token = request.form.get("token", "")
    if not name or len(name) > 80 or not name.isprintable():
        return render("login.html", next=target, error="say who you are (up to 80 characters)"), 400
    if not hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        return render("login.html", next=target, error="that is not the admin token"), 401
    session.clear()  # a fresh session (and CSRF token) for the logged-in operator
    session.permanent = True
    session["operator"] = name
    csrf_token()
    return redirect(target)


@blueprint.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("security.login"))
