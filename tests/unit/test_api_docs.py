"""`/docs` on every API: Swagger UI over the API's own `/openapi.json`, its files served from
the npm package `infra/bootstrap` installs (so these need that install, not a server)."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from servicekit.app import create_service_app
from servicekit.customer_tokens import CustomerTokenVerifier
from testkit.tokens import TokenIssuer


def _apps() -> dict[str, Flask]:
    from inventory_service.api import build_api as inventory_api
    from order_service.api import OrderRateLimit
    from order_service.api import build_api as order_api
    from payment_service.api import build_api as payment_api
    from search_indexer.api import build_app as search_app
    from search_indexer.config import Settings
    from search_indexer.index import ProductIndex, client

    verifier = CustomerTokenVerifier.from_settings(TokenIssuer.create().settings())

    def never_called():  # the docs page opens no unit of work
        raise AssertionError("no unit of work is needed")

    def never_started(uow, event):  # nor starts a saga
        raise AssertionError("no saga is started")

    return {
        "inventory": create_service_app(inventory_api(never_called, lambda: "token"), {}),
        "order": create_service_app(
            order_api(
                never_called, lambda: "token", verifier, OrderRateLimit(60, 60), never_started
            ),
            {},
        ),
        "payment": create_service_app(payment_api(never_called, lambda: "token", verifier), {}),
        "search": search_app(Settings(), ProductIndex(client("http://127.0.0.1:1"), "unused")),
    }


APPS = _apps()


@pytest.fixture(params=sorted(APPS))
def client(request):
    return APPS[request.param].test_client()


def _referenced(page: str, tag: str, attribute: str) -> list[str]:
    return re.findall(rf'<{tag}\b[^>]*\b{attribute}="([^"]+)"', page)


def test_the_docs_page_points_swagger_ui_at_the_apis_own_openapi_document(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    (openapi_url,) = re.findall(r'data-openapi-url="([^"]+)"', page)
    assert openapi_url == "/openapi.json"
    title = client.get(openapi_url).json["info"]["title"]
    assert f"<title>{title}: API documentation</title>" in page.replace("&amp;", "&")


def test_every_script_and_stylesheet_the_page_loads_answers_with_its_type(client):
    page = client.get("/docs").get_data(as_text=True)
    scripts = _referenced(page, "script", "src")
    stylesheets = _referenced(page, "link", "href")
    assert len(scripts) == 2
    assert len(stylesheets) == 1
    for url, mimetype in [(url, "text/javascript") for url in scripts] + [
        (url, "text/css") for url in stylesheets
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.mimetype == mimetype, url
        assert len(response.get_data()) > 0, url


def test_the_bundle_is_swagger_ui_5_which_renders_openapi_3_1(client):
    bundle = client.get("/docs/assets/swagger-ui-bundle.js").get_data(as_text=True)
    assert "SwaggerUIBundle" in bundle
    assert "isOAS31" in bundle  # the 3.1 support Swagger UI 4 lacks
    assert client.get("/openapi.json").json["openapi"] == "3.1.0"


def test_only_the_named_assets_are_served(client):
    assert client.get("/docs/assets/package.json").status_code == 404
    assert client.get("/docs/assets/..%2Fpackage.json").status_code == 404


def test_docs_is_listed_in_the_openapi_document_beside_healthz(client):
    paths = client.get("/openapi.json").json["paths"]
    assert {"/healthz", "/readyz", "/docs"} <= set(paths)
    assert "text/html" in paths["/docs"]["get"]["responses"]["200"]["content"]
