"""A worker process: its consumers and its outbox relay, each in a thread, until SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

Task = Callable[[threading.Event], None]
"""Runs until the event is set (a consumer's `run`, a relay's `run`)."""


def run_until_signalled(tasks: Mapping[str, Task], *, join_timeout_s: float = 30.0) -> int:
    """Run every task; SIGTERM/SIGINT ask them to finish what they hold and stop. If one task
    dies, the others are stopped too and the exit code is 1, so a supervisor restarts the
    process instead of leaving it half alive."""
    stop = threading.Event()
    failed: list[str] = []

    def request_stop(signum: int, _frame: object) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    def supervised(name: str, task: Task) -> None:
        try:
            task(stop)
        except Exception:
            log.exception("task %s failed", name)
            failed.append(name)
            stop.set()

    threads = [
        threading.Thread(target=supervised, args=(name, task), name=name, daemon=True)
        for name, task in tasks.items()
    ]
    for thread in threads:
        thread.start()
    log.info("worker running: %s", ", ".join(tasks))
    while not stop.wait(0.5):
        pass
    for thread in threads:
        thread.join(join_timeout_s)
    return 1 if failed else 0


def run_worker(
    service_name: str, log_level: str, build_tasks: Callable[[], Mapping[str, Task]]
) -> int:
    """A service's `worker` command: observability first (before any engine exists), then the
    tasks until SIGTERM, then flush the last spans."""
    from servicekit.observability import setup_observability, shutdown_telemetry

    setup_observability(service_name, log_level)
    try:
        return run_until_signalled(build_tasks())
    finally:
        shutdown_telemetry()
