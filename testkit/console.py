"""The operator console as a real process beside a test shop (`python -m console serve`, as
`make up` runs it), on a free port, reading that shop's APIs, databases and topics; and a real
headless browser to use it: Debian's chromium driven by Playwright (no browser download works
where the tests run, so Playwright is pointed at the machine's own chromium)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import requests

from testkit.conditions import wait_for
from testkit.ports import free_port
from testkit.shop import ADMIN, Shop

CONSOLE = "console:serve"
#: The browser Playwright drives: CHROMIUM when set, else Debian's (infra/bootstrap installs it).
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")


def chromium_path() -> str:
    chosen = os.environ.get("CHROMIUM") or next(
        (path for path in CHROMIUM_CANDIDATES if Path(path).is_file()),
        shutil.which("chromium"),
    )
    if not chosen:
        raise RuntimeError("no chromium on this machine: run infra/bootstrap")
    return chosen


@dataclass(frozen=True)
class RunningConsole:
    url: str
    admin_token: str


def start_console(shop: Shop, *, jaeger_query_url: str | None = None) -> RunningConsole:
    """Start the console for `shop` (stopped with the shop's other processes)."""
    port = free_port()
    shop.env.update(
        {
            "CONSOLE_PORT": str(port),
            "ORDER_SERVICE_URL": shop.order_url,
            "INVENTORY_SERVICE_URL": shop.inventory_url,
            "PAYMENT_SERVICE_URL": shop.payment_url,
            # No search API in a test shop: a port nothing listens on, so it shows as down.
            "SEARCH_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
        }
    )
    if jaeger_query_url:
        shop.env["JAEGER_QUERY_URL"] = jaeger_query_url
    shop.start(CONSOLE)
    url = f"http://127.0.0.1:{port}"
    process = shop.processes[CONSOLE]

    def healthy() -> bool:
        assert process.poll() is None, f"the console exited; logs in {shop.logs}"
        try:
            return requests.get(f"{url}/healthz", timeout=2).ok
        except requests.RequestException:
            return False

    wait_for(healthy, 120, f"the console started (logs in {shop.logs})")
    return RunningConsole(url, ADMIN["Authorization"].split()[1])
