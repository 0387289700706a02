"""An API as gunicorn serves it (the search API: it needs no database): a client's idle
keep-alive connection is still served after several seconds, as pooled HTTP clients expect;
and `/docs`, Swagger UI over its `/openapi.json`, renders every operation in a real headless
browser (Debian's chromium through Playwright)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from testkit.console import chromium_path
from testkit.ports import free_port
from testkit.shop import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def search_api() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "search_indexer", "api"],
        cwd=REPO,
        env={
            **os.environ,
            "SEARCH_PORT": str(port),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180  # gunicorn importing the app on a loaded machine
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz")
                connection.getresponse().read()
                connection.close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "API not up"
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_an_idle_keep_alive_connection_is_still_served_after_five_seconds(search_api):
    connection = http.client.HTTPConnection("127.0.0.1", search_api, timeout=5)
    connection.request("GET", "/healthz")
    first = connection.getresponse()
    first.read()
    assert first.status == 200 and first.getheader("Connection", "").lower() != "close"
    time.sleep(5)
    connection.request("GET", "/healthz")  # on the same socket: no reconnect in http.client
    second = connection.getresponse()
    second.read()
    assert second.status == 200
    connection.close()


def _get(port: int, path: str) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, response.getheader("Content-Type", ""), body


def test_docs_and_its_assets_are_served_by_gunicorn(search_api):
    status, content_type, page = _get(search_api, "/docs")
    assert status == 200 and content_type.startswith("text/html")
    assert b'data-openapi-url="/openapi.json"' in page
    for path, expected_type in [
        ("/docs/assets/swagger-ui-bundle.js", "text/javascript"),
        ("/docs/assets/docs.js", "text/javascript"),
        ("/docs/assets/swagger-ui.css", "text/css"),
    ]:
        status, content_type, body = _get(search_api, path)
        assert status == 200 and content_type.startswith(expected_type) and body, path


def test_swagger_ui_renders_every_operation_of_the_openapi_document(search_api):
    playwright_api = pytest.importorskip("playwright.sync_api")
    _, _, document = _get(search_api, "/openapi.json")
    operations = {
        (method.upper(), path)
        for path, methods in json.loads(document)["paths"].items()
        for method in methods
    }
    assert ("GET", "/search") in operations
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{search_api}/docs")
            rendered = page.locator(".opblock-summary")
            playwright_api.expect(rendered).to_have_count(len(operations), timeout=60_000)
            shown = set()
            for index in range(rendered.count()):
                summary = rendered.nth(index)
                method = summary.locator(".opblock-summary-method").inner_text().strip()
                path = summary.locator(".opblock-summary-path").get_attribute("data-path")
                shown.add((method.upper(), path))
            assert shown == operations
            playwright_api.expect(page.locator(".info .title")).to_contain_text(
                "Product search", timeout=60_000
            )
        finally:
            browser.close()
