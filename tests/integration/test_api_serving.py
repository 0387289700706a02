"""An API as gunicorn serves it (the search API: it needs no database): a client's idle
keep-alive connection is still served after several seconds, as pooled HTTP clients expect."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from testkit.shop import REPO, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
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
