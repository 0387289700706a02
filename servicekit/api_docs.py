"""`/docs`: Swagger UI over the API's own `/openapi.json`, for a person to read and try.

The Swagger UI files come from the npm registry (`swagger-ui-dist`, pinned by
`servicekit/swagger_ui/package-lock.json`, installed into its `node_modules` by
`infra/bootstrap`); nothing of it is copied into the repository. Swagger UI 5 is needed: the
documents are OpenAPI 3.1, which the 4.x line (and so the PyPI `swagger-ui-bundle` package,
still at 4.15) refuses to render."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, send_from_directory, url_for

SWAGGER_UI_DIST = (
    Path(__file__).resolve().parent / "swagger_ui" / "node_modules" / "swagger-ui-dist"
)
#: The files the page loads: URL name -> file in swagger-ui-dist.
ASSETS = {
    "swagger-ui.css": "swagger-ui.css",
    "swagger-ui-bundle.js": "swagger-ui-bundle.js",
    "docs.js": None,  # the page's own start-up script, below
}

#: Started from a file rather than an inline script, so a strict Content-Security-Policy holds.
_START_SCRIPT = """window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({url: root.dataset.openapiUrl, dom_id: "#swagger-ui",
                               deepLinking: true});
});
"""

DOCS_PATHS: dict[str, Any] = {
    "/docs": {
        "get": {
            "operationId": "docs",
            "summary": "This document as a page to read and try (Swagger UI)",
            "responses": {"200": {"description": "an HTML page", "content": {"text/html": {}}}},
        }
    },
}


def docs_blueprint(title: str) -> Blueprint:
    """The `/docs` page and its assets under `/docs/assets/`."""
    blueprint = Blueprint("api_docs", __name__)

    @blueprint.get("/docs")
    def docs() -> Response:
        page = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{escape(title)}: API documentation</title>
  <link rel="stylesheet" href="{url_for("api_docs.asset", name="swagger-ui.css")}">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{url_for("openapi")}"></div>
  <script src="{url_for("api_docs.asset", name="swagger-ui-bundle.js")}"></script>
  <script src="{url_for("api_docs.asset", name="docs.js")}"></script>
</body>
</html>
"""
        return Response(page, mimetype="text/html")

    @blueprint.get("/docs/assets/<name>")
    def asset(name: str) -> Response:
        if name not in ASSETS:
            abort(404)
        if name == "docs.js":
            return Response(_START_SCRIPT, mimetype="text/javascript")
        file_name = ASSETS[name]
        if file_name is None:
            abort(404)
        path = SWAGGER_UI_DIST / file_name
        if not path.is_file():
            abort(404, description=f"swagger-ui-dist/{name} is not installed: run infra/bootstrap")
        return send_from_directory(path.parent, path.name, max_age=3600)

    return blueprint
