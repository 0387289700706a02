"""Saga instances and their step logs in PostgreSQL, with optimistic concurrency.

Every save checks the version it loaded; a concurrent change (another orchestrator instance,
or the timeout loop) makes it fail with `ConcurrentSagaUpdate`, a TransientError, so the
consumer retries the message against the fresh state and a saga never advances twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import (
    Sequence as DbSequence,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from eventing.errors import TransientError
from sagas.framework.engine import ACTIVE_STATES, LogEntry, SagaInstance, SagaState, StepStatus


class ConcurrentSagaUpdate(TransientError):
    """Someone else changed the saga since it was loaded: retry against the fresh state."""


def saga_tables(metadata: MetaData) -> tuple[Table, Table, DbSequence]:
    instances = Table(
        "saga_instances",
        metadata,
        Column("saga_id", Uuid, primary_key=True),
        Column("saga_type", Text, nullable=False),
        Column("saga_key", Text, nullable=False),
        Column("state", Text, nullable=False),
        Column("current_step", Text),
        Column("data", JSONB, nullable=False),
        Column("failure_reason", Text),
        Column("deadline", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("version", Integer, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        UniqueConstraint("saga_type", "saga_key", name="saga_instances_type_key"),
        Index(
            "saga_instances_due",
            "deadline",
            postgresql_where=text("state IN ('RUNNING', 'COMPENSATING', 'ABORTING')"),
        ),
        Index("saga_instances_state", "state", "updated_at"),
    )
    log = Table(
        "saga_log",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("saga_id", Uuid, ForeignKey("saga_instances.saga_id"), nullable=False),
        Column("step", Text, nullable=False),
        Column("status", Text, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("detail", Text, nullable=False, server_default=""),
        Index("saga_log_by_saga", "saga_id", "id"),
    )
    progress = DbSequence("saga_progress_seq", metadata=metadata)
    return instances, log, progress


class SagaStore:
    def __init__(self, instances: Table, log: Table, progress: DbSequence):
        self.instances = instances
        self.log = log
        self.progress = progress

    def add(self, session: Session, instance: SagaInstance) -> bool:
        """Store a new instance; False if one already exists for its type and key."""
        row = self._row(instance) | {"saga_id": uuid.UUID(instance.saga_id), "version": 1}
        result = session.execute(
            pg_insert(self.instances)
            .values(**row)
            .on_conflict_do_nothing(constraint="saga_instances_type_key")
            .returning(self.instances.c.saga_id)
        )
        if result.first() is None:
            return False
        instance.version = 1
        self._append_log(session, instance)
        return True

    def get(self, session: Session, saga_id: str, *, lock: bool = False) -> SagaInstance | None:
        query = select(self.instances).where(self.instances.c.saga_id == _uuid(saga_id))
        if lock:
            query = query.with_for_update()
        row = session.execute(query).first()
        return None if row is None else self._instance(session, row)

    def find(self, session: Session, saga_type: str, key: str) -> SagaInstance | None:
        row = session.execute(
            select(self.instances).where(
                self.instances.c.saga_type == saga_type, self.instances.c.saga_key == key
            )
        ).first()
        return None if row is None else self._instance(session, row)

    def save(self, session: Session, instance: SagaInstance) -> None:
        # An UPDATE's result is a CursorResult, though Session.execute is typed as a plain Result.
        result = cast(
            "CursorResult[Any]",
            session.execute(
                update(self.instances)
                .where(
                    self.instances.c.saga_id == _uuid(instance.saga_id),
                    self.instances.c.version == instance.version,
                )
                .values(**self._row(instance), version=instance.version + 1, updated_at=func.now())
            ),
        )
        if result.rowcount != 1:
            raise ConcurrentSagaUpdate(f"saga {instance.saga_id} changed since it was loaded")
        instance.version += 1
        self._append_log(session, instance)

    def next_progress_version(self, session: Session) -> int:
        return session.execute(select(self.progress.next_value())).scalar_one()

    def due(self, session: Session, now: datetime, limit: int = 100) -> list[str]:
        """Active sagas whose deadline passed, locked for this transaction (others skip them)."""
        rows = session.execute(
            select(self.instances.c.saga_id)
            .where(
                self.instances.c.deadline <= now,
                self.instances.c.state.in_([state.value for state in ACTIVE_STATES]),
            )
            .order_by(self.instances.c.deadline)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
        return [str(saga_id) for saga_id in rows]

    def list(
        self,
        session: Session,
        *,
        state: str | None = None,
        updated_before: datetime | None = None,
        limit: int = 100,
    ) -> Sequence:
        query = select(self.instances).order_by(self.instances.c.updated_at.desc()).limit(limit)
        if state:
            query = query.where(self.instances.c.state == state)
        if updated_before:
            query = query.where(self.instances.c.updated_at <= updated_before)
        return session.execute(query).all()

    def count_by_state(self, session: Session) -> dict[str, int]:
        rows = session.execute(
            select(self.instances.c.state, func.count()).group_by(self.instances.c.state)
        )
        return {state: count for state, count in rows}

    def _row(self, instance: SagaInstance) -> dict:
        return {
            "saga_type": instance.saga_type,
            "saga_key": instance.key,
            "state": instance.state.value,
            "current_step": instance.current_step,
            "data": instance.data,
            "failure_reason": instance.failure_reason,
            "deadline": instance.deadline,
            "attempts": instance.attempts,
        }

    def _append_log(self, session: Session, instance: SagaInstance) -> None:
        if instance.new_entries:
            entries = instance.log[-instance.new_entries :]
            session.execute(
                insert(self.log),
                [
                    {
                        "saga_id": _uuid(instance.saga_id),
                        "step": e.step,
                        "status": e.status.value,
                        "at": e.at,
                        "detail": e.detail,
                    }
                    for e in entries
                ],
            )
        instance.new_entries = 0

    def _instance(self, session: Session, row) -> SagaInstance:
        entries = session.execute(
            select(self.log).where(self.log.c.saga_id == row.saga_id).order_by(self.log.c.id)
        ).all()
        return SagaInstance(
            saga_id=str(row.saga_id),
            saga_type=row.saga_type,
            key=row.saga_key,
            state=SagaState(row.state),
            data=dict(row.data),
            current_step=row.current_step,
            deadline=row.deadline,
            attempts=row.attempts,
            failure_reason=row.failure_reason,
            log=[LogEntry(e.step, StepStatus(e.status), e.at, e.detail) for e in entries],
            version=row.version,
        )


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)
