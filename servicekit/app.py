"""The Flask application every service builds: its API plus health, readiness, OpenAPI and its
`/docs` page, problem responses, a `traceparent` header on every response, and request bodies
of at most `MAX_BODY_BYTES` (a larger one is a 413 problem, refused before it is read)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast

from flask import Flask, Response, jsonify
from flask.json.provider import DefaultJSONProvider
from opentelemetry.instrumentation.flask import FlaskInstrumentor

from eventing.tracing import current_trace_headers
from servicekit.api import Api
from servicekit.api_docs import DOCS_PATHS, docs_blueprint
from servicekit.fields import MAX_BODY_BYTES
from servicekit.problems import Problem, install_problem_handlers

Check = Callable[[], None]
"""A readiness check: returns when the dependency answers, raises otherwise."""

_HEALTH_PATHS = {
    "/healthz": {
        "get": {
            "operationId": "healthz",
            "summary": "The process is alive",
            "responses": {"200": {"description": "alive"}},
        }
    },
    "/readyz": {
        "get": {
            "operationId": "readyz",
            "summary": "The service's database and Kafka answer",
            "responses": {
                "200": {"description": "ready"},
                "503": {"description": "a dependency is down"},
            },
        }
    },
}


def create_service_app(api: Api, checks: Mapping[str, Check]) -> Flask:
    app = Flask(api.name)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    cast(DefaultJSONProvider, app.json).sort_keys = False  # typed as the provider's base class
    install_problem_handlers(app)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(docs_blueprint(api.title))

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok", service=api.name)

    @app.get("/readyz")
    def readyz() -> Response:
        failing = {}
        for name, check in checks.items():
            try:
                check()
            except Exception as error:
                failing[name] = str(error) or type(error).__name__
        if failing:
            detail = "; ".join(f"{name}: {reason}" for name, reason in failing.items())
            raise Problem(503, "Service Unavailable", f"not ready: {detail}")
        return jsonify(status="ready", checks=sorted(checks))

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(api.openapi(extra_paths=_HEALTH_PATHS | DOCS_PATHS))

    @app.after_request
    def add_traceparent(response: Response) -> Response:
        traceparent = current_trace_headers().get("traceparent")
        if traceparent:
            response.headers["traceparent"] = traceparent
        return response

    FlaskInstrumentor().instrument_app(app)
    return app
