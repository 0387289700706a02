"""Throwaway databases and topics on the real servers, for tests and benchmarks."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import psycopg2.errors
import sqlalchemy as sa

from eventing.config import KafkaSettings
from eventing.envelope import Envelope
from eventing.kafka_admin import delete_topics, ensure_topics
from eventing.topics import TopicSpec, dead_letter_topic
from servicekit.migrations import upgrade

POSTGRES_URL_TEMPLATE = os.environ.get(
    "TEST_POSTGRES_URL_TEMPLATE", "postgresql://eventshop:eventshop@127.0.0.1:5432/{database}"
)
SERVICE_DATABASES = ("orders", "inventory", "payments")
"""What `infra/postgres` creates: one per service that owns a database (the orchestrator works
in the order service's)."""


def postgres_url(database: str, template: str = POSTGRES_URL_TEMPLATE) -> str:
    """A libpq URL, for psycopg2.connect and psql."""
    return template.format(database=database)


def sqlalchemy_url(database: str, template: str = POSTGRES_URL_TEMPLATE) -> str:
    """The same database for SQLAlchemy, naming the psycopg2 driver the project uses."""
    return postgres_url(database, template).replace("postgresql://", "postgresql+psycopg2://", 1)


@contextmanager
def scratch_database(
    pool_size: int = 10, url_template: str = POSTGRES_URL_TEMPLATE
) -> Iterator[sa.Engine]:
    """An engine on a new, empty PostgreSQL database (of the server `url_template` names),
    dropped on exit. The drop connects afresh: a drill may have restarted the server since
    the database was created, and a pooled connection would be dead."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        sqlalchemy_url("postgres", url_template),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.NullPool,
    )
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    engine = sa.create_engine(
        sqlalchemy_url(name, url_template), pool_size=pool_size, max_overflow=pool_size
    )
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(admin, name)
        admin.dispose()


@contextmanager
def migrated_database(package: str, pool_size: int = 10) -> Iterator[sa.Engine]:
    """A scratch database with the schema of `package` (its `migrations`, as the service's
    own `migrate` applies them)."""
    migrations = Path(str(import_module(package).__file__)).parent / "migrations"
    with scratch_database(pool_size=pool_size) as engine:
        upgrade(migrations, engine.url.render_as_string(hide_password=False))
        yield engine


@dataclass(frozen=True)
class OutboxRow:
    topic: str
    envelope: Envelope
    headers: dict[str, str]


def outbox_rows(engine: sa.Engine, table: sa.Table) -> list[OutboxRow]:
    """What an outbox table holds, in the order it was written."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table).order_by(table.c.id))
        return [
            OutboxRow(row.topic, Envelope.model_validate_json(row.envelope), dict(row.headers))
            for row in rows
        ]


def drop_database(admin: sa.Engine, name: str, patience_s: float = 10.0) -> None:
    """Drop a database, ending whatever sessions are still in it.

    An autovacuum worker in the database belongs to no role, so a role without
    pg_signal_backend (the local stack grants it) may not end it: wait for the worker to finish.
    """
    deadline = time.monotonic() + patience_s
    while True:
        try:
            with admin.connect() as connection:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            return
        except sa.exc.ProgrammingError as error:
            if not isinstance(error.orig, psycopg2.errors.InsufficientPrivilege):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def scratch_topics(settings: KafkaSettings, specs: Iterable[TopicSpec]) -> Iterator[list[str]]:
    specs = list(specs)
    ensure_topics(settings, specs)
    try:
        yield [spec.name for spec in specs]
    finally:
        delete_topics(settings, [spec.name for spec in specs])


def topic_with_dead_letters(partitions: int = 3) -> list[TopicSpec]:
    name = f"test.{uuid.uuid4().hex[:12]}"
    return [TopicSpec(name, partitions=partitions), TopicSpec(dead_letter_topic(name), 1)]
