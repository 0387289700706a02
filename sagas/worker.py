"""The orchestrator process: reply consumer, outbox relay and timeout loop, until SIGTERM."""

from __future__ import annotations

from sagas.bootstrap import bootstrap
from sagas.config import load_settings
from servicekit.observability import setup_observability, shutdown_tracing
from servicekit.worker import run_until_signalled


def main() -> int:
    settings = load_settings()
    setup_observability(settings.service_name, settings.log_level)
    app = bootstrap(settings)
    try:
        return run_until_signalled(app.tasks())
    finally:
        shutdown_tracing()
