"""What every server-rendered web app of the shop (the console, the storefront) needs besides
its pages: `/healthz`, its browser assets served from `node_modules` (installed by `npm ci`
from its lock file, never copied into the repository), a `traceparent` on every response, and
the security headers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import Flask, Response, abort, jsonify, request, send_from_directory

from eventing.tracing import current_trace_headers


def install_web_basics(
    app: Flask,
    *,
    service_name: str,
    node_modules: Path,
    assets: Mapping[str, str],
    content_security_policy: str,
) -> None:
    """`assets`: URL name -> file under `node_modules` (`url_for('assets', name=...)`)."""

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok", service=service_name)

    def assets_route(name: str) -> Response:
        if name not in assets:
            abort(404)
        path = node_modules / assets[name]
        if not path.is_file():
            abort(404, description=f"{assets[name]} is not installed: run infra/bootstrap")
        return send_from_directory(path.parent, path.name, max_age=3600)

    app.add_url_rule("/assets/<name>", "assets", assets_route, methods=["GET"])

    @app.after_request
    def headers(response: Response) -> Response:
        traceparent = current_trace_headers().get("traceparent")
        if traceparent:
            response.headers["traceparent"] = traceparent
        response.headers.setdefault("Content-Security-Policy", content_security_policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.endpoint not in ("assets", "static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response
