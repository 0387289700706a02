"""Ending the process groups tests start (a service with its gunicorn workers, an indexer)."""

from __future__ import annotations

import os
import signal
import subprocess


def terminate(process: subprocess.Popen | None, grace_s: float = 30.0) -> None:
    """SIGTERM the process's group, then SIGKILL it if it has not stopped within `grace_s`
    (a faust worker waiting on an Elasticsearch that is down once did not)."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
