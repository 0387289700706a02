"""The search API while its Elasticsearch is away, without one: a port that refuses
connections (a node killed) and a socket that accepts them and never answers (a node stalled).
The search API, against a running node that dies and comes back, is tested in
tests/e2e/test_search_outage.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from search_indexer.api import api_index, build_app
from search_indexer.config import Settings
from testkit.ports import free_port

WITHIN_S = 10.0
"""What a storefront waits at most for its answer: the API's own bound is a few seconds."""


def search_api(url: str) -> FlaskClient:
    settings = Settings(elasticsearch_url=url)
    return build_app(settings, api_index(settings)).test_client()


@pytest.fixture
def refusing_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nobody listens


@pytest.fixture
def stalled_url() -> Iterator[str]:
    """A listening socket that never accepts: the kernel completes the handshake and buffers
    the request, and no answer ever comes, as from a node frozen in a pause."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("url", ["refusing_url", "stalled_url"])
def test_a_search_answers_503_problem_with_retry_after_quickly(url, request):
    api = search_api(request.getfixturevalue(url))
    started = time.monotonic()
    response = api.get("/search", query_string={"q": "kettle"})
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == str(Settings().api_retry_after_s)
    assert response.json["status"] == 503
    assert "Elasticsearch" in response.json["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    assert elapsed < WITHIN_S


@pytest.mark.parametrize("url", ["refusing_url", "stalled_url"])
def test_readiness_says_not_ready_and_liveness_stays_up(url, request):
    api = search_api(request.getfixturevalue(url))
    started = time.monotonic()
    ready = api.get("/readyz")
    assert time.monotonic() - started < WITHIN_S
    assert ready.status_code == 503
    assert ready.mimetype == "application/problem+json"
    assert "elasticsearch" in ready.json["detail"]
    assert api.get("/healthz").status_code == 200


def test_invalid_input_is_still_a_422_while_elasticsearch_is_away(refusing_url):
    response = search_api(refusing_url).get("/search", query_string={"page_size": "0"})
    assert response.status_code == 422
