"""Order's worker: the command consumer and the outbox relay, until SIGTERM."""

from __future__ import annotations

from order_service.bootstrap import bootstrap
from order_service.config import load_settings
from servicekit.worker import run_worker


def main() -> int:
    settings = load_settings()
    return run_worker(
        settings.service_name, settings.log_level, lambda: bootstrap(settings).tasks()
    )
