"""Wake-ups from PostgreSQL: LISTEN on a channel that transactions NOTIFY when they commit.

An outbox relay sleeps here between passes instead of polling its table: `Outbox.add` notifies
the outbox's channel inside the writer's transaction, and PostgreSQL delivers the notification
only when (and if) that transaction commits. The relay still wakes after a timeout, which covers
notifications missed while the listening connection was down.
"""

from __future__ import annotations

import contextlib
import logging
import select
import time

from sqlalchemy import Engine

from eventing.db_errors import translate_db_errors
from eventing.errors import EventingError

log = logging.getLogger(__name__)


class Notifications:
    """One connection of its own, outside the engine's pool, listening on `channel`."""

    def __init__(self, engine: Engine, channel: str):
        self.engine = engine
        self.channel = channel
        self._connection = None

    def wait(self, timeout_s: float) -> bool:
        """Block until a notification arrives (True) or `timeout_s` passes (False).

        A LISTEN just (re)established also answers True at once: whatever was notified while
        no connection listened (the server restarting, say) is lost, so the caller must look
        for itself rather than sleep until its next poll."""
        try:
            if self._connection is None:
                self._listening()
                return True
            connection = self._connection
            ready, _, _ = select.select([connection], [], [], timeout_s)
            if not ready:
                return False
            connection.poll()
            woken = bool(connection.notifies)
            connection.notifies.clear()
            return woken
        except (EventingError, OSError, self.engine.dialect.loaded_dbapi.Error) as error:
            log.warning("listening on %s failed (%s); polling meanwhile", self.channel, error)
            self.close()
            time.sleep(timeout_s)
            return False

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(self.engine.dialect.loaded_dbapi.Error):
                self._connection.close()
            self._connection = None

    def _listening(self):
        if self._connection is None:
            with translate_db_errors():
                pooled = self.engine.raw_connection()
                connection = pooled.driver_connection
                pooled.detach()  # a connection of its own: the pool may replace it
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute(f'LISTEN "{self.channel}"')
            self._connection = connection
        return self._connection
