"""SQLAlchemy plumbing: engines and their readiness check (the unit of work is in
`servicekit.unit_of_work`)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, text

from eventing.db_errors import translate_db_errors


def make_engine(url: str, *, pool_size: int = 10, pre_ping: bool = True) -> Engine:
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5},
    )


def ping(engine: Engine) -> None:
    with translate_db_errors(), engine.connect() as connection:
        connection.execute(text("SELECT 1"))
