"""The shop's outboxes, one per service database, for `shopctl outbox` and `shopctl status`.

Each service's outbox table is found through its own package (`<package>.orm.outbox`) and its
database through the environment the service itself reads (`ORDER_DATABASE_URL`, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module

import psycopg2.errors
from sqlalchemy import Engine, Table, create_engine, pool
from sqlalchemy.exc import DBAPIError

from eventing.errors import EventingError, TransientError
from eventing.outbox import Outbox
from servicekit import registry

#: Service name -> the package that owns its database and outbox.
OUTBOX_SERVICES = {entry.name: entry.package for entry in registry.with_database()}
"""Each deployable with a database, and so an outbox: its name -> its package."""


class OutboxUnreadable(EventingError):
    """A service's outbox could not be read or changed (database down, schema too old)."""


class UnknownService(LookupError):
    def __str__(self) -> str:
        return f"no outbox is known for {self.args[0]!r}; known: {', '.join(OUTBOX_SERVICES)}"


@dataclass(frozen=True)
class ServiceOutbox:
    service: str
    engine: Engine
    table: Table

    @property
    def channel(self) -> str:
        return Outbox(self.table).channel


def services(only: str | None = None) -> list[str]:
    if only is None:
        return list(OUTBOX_SERVICES)
    if only not in OUTBOX_SERVICES:
        raise UnknownService(only)
    return [only]


@contextmanager
def service_outbox(service: str) -> Iterator[ServiceOutbox]:
    """The service's outbox table on its database, for the length of the block."""
    package = OUTBOX_SERVICES[service]
    settings = import_module(f"{package}.config").load_settings()
    engine = create_engine(
        settings.database_url, poolclass=pool.NullPool, connect_args={"connect_timeout": 5}
    )
    try:
        yield ServiceOutbox(service, engine, import_module(f"{package}.orm").outbox)
    except (DBAPIError, TransientError) as error:
        raise OutboxUnreadable(f"{service}: {_one_line(error, package)}") from error
    finally:
        engine.dispose()


def _one_line(error: DBAPIError | TransientError, package: str) -> str:
    cause = error.orig if isinstance(error, DBAPIError) else error.__cause__
    cause = getattr(cause, "orig", cause)
    if isinstance(cause, psycopg2.errors.UndefinedTable | psycopg2.errors.UndefinedColumn):
        return f"its database is not migrated to this version (python -m {package} migrate)"
    return f"database unavailable: {str(cause or error).strip().splitlines()[0]}"
