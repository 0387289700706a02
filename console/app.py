"""The console's Flask application: pages, login, the browser assets, health, tracing."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from console import security
from console.config import ConsoleSettings, load_settings
from console.pages import audit, dead_letters, orders, overview, sagas, search_lag, traces
from console.rendering import FILTERS, render
from eventing.errors import EventingError
from servicekit.observability import setup_observability
from servicekit.web_pages import install_web_basics

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
#: The browser assets the pages load: URL name -> file under node_modules (npm ci installs
#: them from package-lock.json; nothing is copied into the repository).
ASSETS = {"htmx.min.js": "htmx.org/dist/htmx.min.js"}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def create_app(settings: ConsoleSettings | None = None) -> Flask:
    settings = settings or load_settings()
    setup_observability(settings.service_name, settings.log_level)
    app = Flask(__name__)
    # First, so its request span exists before the login guard may answer (a redirect).
    FlaskInstrumentor().instrument_app(app)
    app.config["CONSOLE_SETTINGS"] = settings
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals["jaeger_ui_url"] = settings.jaeger_ui_url
    security.install(app, settings)
    for page in (overview, sagas, orders, traces, dead_letters, search_lag, audit):
        app.register_blueprint(page.blueprint)

    install_web_basics(
        app,
        service_name=settings.service_name,
        node_modules=NODE_MODULES,
        assets=ASSETS,
        content_security_policy=CONTENT_SECURITY_POLICY,
    )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        page = render("error.html", status=error.code, title=error.name, detail=error.description)
        return page, error.code or 500

    @app.errorhandler(EventingError)
    @app.errorhandler(SQLAlchemyError)
    def dependency_error(error: Exception) -> tuple[str, int]:
        """Kafka or a database failed or lacks something: a 503 saying which, in one line."""
        log.warning("a page failed on a dependency: %s", error, exc_info=error)
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        page = render("error.html", status=503, title="Service Unavailable", detail=detail)
        return page, 503

    return app
