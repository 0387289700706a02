"""Idempotent consumers: an event's effects and the record that it was applied commit together."""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.orm import Session


class Inbox:
    def __init__(self, table: Table, consumer: str):
        self.table = table
        self.consumer = consumer

    def claim(self, executor: Connection | Session, event_id: uuid.UUID, event_type: str) -> bool:
        """Record the event as applied, in the caller's transaction.

        Returns False when this consumer already applied it: the caller then does nothing, and a
        redelivered or replayed event has no second effect.
        """
        # An INSERT's result is a CursorResult, though Session.execute is typed as a plain Result.
        result = cast(
            "CursorResult[Any]",
            executor.execute(
                insert(self.table)
                .values(consumer=self.consumer, event_id=event_id, event_type=event_type)
                .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
            ),
        )
        return result.rowcount == 1
