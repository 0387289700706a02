"""SQLAlchemy plumbing: engines and the unit of work every service layer uses."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

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


class UnitOfWork:
    """One database transaction: `with uow: ...; uow.commit()`. Leaving without commit rolls
    back. A service's unit of work subclasses it and builds its repositories in `_start`."""

    session: Session

    def __init__(self, session_factory: sessionmaker[Session]):
        self.session_factory = session_factory

    def __enter__(self) -> Self:
        self.session = self.session_factory()
        self._start()
        return self

    def _start(self) -> None:
        """Hook for subclasses: create repositories on `self.session`."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        with translate_db_errors():
            self.session.commit()

    def flush(self) -> None:
        with translate_db_errors():
            self.session.flush()
