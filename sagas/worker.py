"""The orchestrator process: reply consumer, outbox relay and timeout loop, until SIGTERM."""

from __future__ import annotations

from sagas.bootstrap import bootstrap
from servicekit.observability import setup_observability, shutdown_tracing
from servicekit.worker import run_until_signalled


def main() -> int:
    app = bootstrap()
    setup_observability(app.settings.service_name, app.settings.log_level)
    try:
        return run_until_signalled(app.tasks())
    finally:
        shutdown_tracing()
