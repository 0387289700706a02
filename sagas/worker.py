"""The orchestrator process: reply consumer, outbox relay and timeout loop, until SIGTERM."""

from __future__ import annotations

from sagas.bootstrap import bootstrap
from sagas.config import load_settings
from servicekit.worker import run_worker


def main() -> int:
    settings = load_settings().for_worker()
    return run_worker(
        settings.service_name, settings.log_level, lambda: bootstrap(settings).worker_tasks()
    )
