"""Database failures as the backbone's errors: retryable ones become TransientError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from eventing.errors import TransientError

# SQLSTATEs worth retrying: serialization failure, deadlock, lock not available, the server
# shutting down or in recovery, and every connection exception (class 08).
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03"}


def is_transient(error: BaseException) -> bool:
    if isinstance(error, OperationalError | DisconnectionError | PoolTimeoutError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        sqlstate = getattr(error.orig, "pgcode", None) or ""
        return sqlstate in _RETRYABLE_SQLSTATES or sqlstate.startswith("08")
    return False


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Re-raise a retryable database error as TransientError; let others through unchanged."""
    try:
        yield
    except DBAPIError as error:
        if is_transient(error):
            raise TransientError(f"database unavailable: {error.orig or error}") from error
        raise
    except (DisconnectionError, PoolTimeoutError) as error:
        raise TransientError(f"database unavailable: {error}") from error
