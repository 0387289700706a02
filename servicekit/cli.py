"""The command line of every service: `python -m <service> migrate|api|worker`.

- `migrate` applies the service's Alembic migrations (also run by `api` and `worker` at start).
- `api` serves the Flask app under gunicorn (gthread workers) on the service's port.
- `worker` runs the service's Kafka consumers and outbox relay until SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from servicekit.customer_tokens import CustomerTokenVerifier
from servicekit.migrations import upgrade
from servicekit.settings import HttpServiceSettings

if TYPE_CHECKING:
    from servicekit.deployable import Deployable

SettingsT = TypeVar("SettingsT", bound=HttpServiceSettings)


@dataclass(frozen=True)
class ServiceCommands(Generic[SettingsT]):
    prog: str
    migrations_dir: Path
    settings: Callable[[], SettingsT]
    """Read once, when a command runs: database URL, where to listen, name and log level."""
    app_factory: str | None
    """gunicorn's application spec, e.g. 'inventory_service.api:create_app()'; None: no API."""
    worker: Callable[[SettingsT], int]


def main(commands: ServiceCommands[SettingsT], argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=commands.prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations")
    if commands.app_factory is not None:
        api = sub.add_parser("api", help="serve the HTTP API under gunicorn")
        api.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
        api.add_argument("--threads", type=int, default=4)
    sub.add_parser("worker", help="run the Kafka consumers and the outbox relay")
    args = parser.parse_args(argv)

    settings = commands.settings()
    if refusal := settings.production_refusal():
        print(f"{commands.prog}: {refusal}", file=sys.stderr)
        return 2
    if args.command == "api" and (problem := customer_token_key_problem(settings)):
        print(f"{commands.prog}: {problem}", file=sys.stderr)
        return 2
    try:
        upgrade(commands.migrations_dir, settings.database_url)
    except Exception as error:
        print(f"{commands.prog}: migrating the database failed: {error}", file=sys.stderr)
        return 1
    if args.command == "migrate":
        return 0
    if args.command == "worker":
        return commands.worker(settings)
    assert commands.app_factory is not None  # argparse offered `api` only then
    return exec_gunicorn(
        commands.app_factory,
        bind=f"{settings.bind_host}:{settings.port}",
        workers=args.workers,
        threads=args.threads,
        logging=(settings.service_name, settings.log_level),
    )


def customer_token_key_problem(settings: HttpServiceSettings) -> str | None:
    """Why the API could not verify customer tokens (no key file, an unusable key), checked
    once here rather than as a traceback in every gunicorn worker."""
    if not settings.verifies_customer_tokens:
        return None
    try:
        CustomerTokenVerifier.from_settings(settings.customer_tokens)
    except ValueError as error:
        return f"customer tokens cannot be verified: {error}"
    return None


def exec_gunicorn(
    app_factory: str, *, bind: str, workers: int, threads: int, logging: tuple[str, str]
) -> int:
    """Replace this process with gunicorn serving `app_factory` (gthread workers); its own log
    lines are JSON like the app's, under the given service name and level."""
    os.environ["GUNICORN_SERVICE_NAME"], os.environ["GUNICORN_LOG_LEVEL"] = logging
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:servicekit.gunicorn_config",
            "--bind",
            bind,
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--graceful-timeout",
            "20",
            app_factory,
        ],
    )
    return 0  # not reached: exec replaced the process


def run(deployable: Deployable[Any], argv: list[str] | None = None) -> int:
    """The whole `__main__` of a deployable: `python -m <package> migrate|api|worker`, its
    migrations in `<package>/migrations`, its API served by gunicorn through
    `servicekit.deployable:create_app`."""
    from servicekit.worker import run_worker

    def worker(settings: HttpServiceSettings) -> int:
        settings = settings.for_worker()
        return run_worker(
            settings.service_name,
            settings.log_level,
            lambda: deployable.runtime(settings).worker_tasks(),
        )

    return main(
        ServiceCommands(
            prog=deployable.package,
            migrations_dir=Path(cast(str, import_module(deployable.schema_package).__file__)).parent
            / "migrations",
            settings=cast(Callable[[], HttpServiceSettings], deployable.load_settings),
            app_factory=(
                f"servicekit.deployable:create_app({deployable.package!r})"
                if deployable.api
                else None
            ),
            worker=worker,
        ),
        argv,
    )
