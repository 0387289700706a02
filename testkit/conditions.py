"""Waiting on a condition, never on the clock: generous bounds for a loaded 2-core machine."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout_s: float = 60.0, what: str = "condition") -> T:
    """Call `probe` until it returns something truthy, and return that; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} not met within {timeout_s}s"
        time.sleep(0.1)
