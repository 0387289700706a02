"""The storefront's Flask application: the pages, sign-in, the browser assets, health,
tracing, and what a page shows when the shop's APIs say no or do not answer."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, Response, request, session, url_for
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from werkzeug.exceptions import HTTPException

from servicekit.observability import setup_observability
from servicekit.web_pages import install_web_basics
from storefront import security
from storefront.cart import Cart
from storefront.config import StorefrontSettings, load_settings
from storefront.identity import signing_key_bytes
from storefront.pages import account, cart, catalogue, checkout, orders
from storefront.rendering import FILTERS, render
from storefront.shop_api import ApiProblem, ApiUnavailable

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
#: The browser assets the pages load: URL name -> file under node_modules (npm ci installs
#: them from package-lock.json; nothing is copied into the repository).
ASSETS = {"htmx.min.js": "htmx.org/dist/htmx.min.js"}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def create_app(settings: StorefrontSettings | None = None) -> Flask:
    settings = settings or load_settings()
    setup_observability(settings.service_name, settings.log_level)
    app = Flask(__name__)
    FlaskInstrumentor().instrument_app(app)
    app.config["STOREFRONT_SETTINGS"] = settings
    app.jinja_env.filters.update(FILTERS)
    security.install(app, settings, signing_key_bytes())
    for page in (catalogue, account, cart, checkout, orders):
        app.register_blueprint(page.blueprint)

    @app.context_processor
    def cart_context() -> dict:
        return {"cart_count": Cart(session).count()}

    install_web_basics(
        app,
        service_name=settings.service_name,
        node_modules=NODE_MODULES,
        assets=ASSETS,
        content_security_policy=CONTENT_SECURITY_POLICY,
    )
    install_error_pages(app)
    return app


def install_error_pages(app: Flask) -> None:
    """Every failure is a page in words: never a stack trace, never a 500 for an API that is
    down (a 503 "try again" page) or one that said no (its message, with its status)."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        page = render("error.html", status=error.code, title=error.name, detail=error.description)
        return page, error.code or 500

    @app.errorhandler(ApiUnavailable)
    def unavailable(error: ApiUnavailable) -> tuple[str, int]:
        log.warning("a page could not reach the shop: %s", error)
        again = request.full_path.rstrip("?") if request.method == "GET" else request.referrer
        return render("try_again.html", service=error.service, again=again or "/"), 503

    @app.errorhandler(ApiProblem)
    def refused(problem: ApiProblem) -> Response | tuple[str, int]:
        if problem.status == 401:  # the token no longer proves who this is: sign in again
            session.clear()
            target = url_for("account.sign_in", next=request.full_path.rstrip("?"))
            return Response(status=302, headers={"Location": target})
        page = render(
            "error.html", status=problem.status, title="Not possible", detail=problem.message
        )
        return page, problem.status

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[str, int]:
        log.exception("a page failed", exc_info=error)
        detail = "Something went wrong on our side. Please try again in a moment."
        return render("error.html", status=500, title="Sorry", detail=detail), 500
