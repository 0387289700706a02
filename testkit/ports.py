"""Loopback ports for the servers a test starts, and for addresses where nothing listens."""

from __future__ import annotations

import random
import socket

_PORTS_HANDED_OUT: set[int] = set()
_PORT_RANGE = range(20_000, 32_768)
"""Below Linux's ephemeral range (32768-60999): a port the kernel gives to `bind(0)` or to
an outgoing connection (every Kafka and PostgreSQL client of a shop makes dozens) can be
given again to the next caller before the server it was meant for has bound it."""


def free_port() -> int:
    """A loopback port nobody listens on, never the same twice in this process: two servers
    of one shop handed one port would leave one of them answering for both."""
    for _ in range(1_000):
        port = random.choice(_PORT_RANGE)
        if port in _PORTS_HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {_PORT_RANGE}")
