"""The saga store in PostgreSQL, and the orchestrator's unit of work on it.

`SqlSagaStore` is bound to one unit of work's session: optimistic concurrency on the saga row
(`version`), the step log appended in the same transaction, and the deadlines read against the
outbox table its commands are written to (see `sagas.framework.ports` for the contract both
adapters keep). A service's unit of work builds it on its session, over the saga tables
(`saga_tables`) in its own database: the shop's orchestrator uses the order service's.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    and_,
    bindparam,
    false,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy import (
    Sequence as DbSequence,
)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from eventing.sql import UpdateByKey, insert_or_skip, update_by_key
from sagas.framework.engine import ACTIVE_STATES, LogEntry, SagaInstance, SagaState, StepStatus
from sagas.framework.ports import (
    ConcurrentSagaUpdate,
    DueSaga,
    SagaStore,
    UnsentCommand,
)


@dataclass(frozen=True)
class SagaTables:
    """The orchestrator's own tables (`saga_tables`), beside its outbox and inbox."""

    instances: Table
    log: Table
    progress: DbSequence


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
        Column("backing_off", Boolean, nullable=False, server_default=false()),
        Column("step_deadline", DateTime(timezone=True)),
        Column("awaited_command_id", Uuid),
        Column("unsent_reported_id", Uuid),
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
        Index("saga_instances_by_key", "saga_key", "created_at"),
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


_ROW_COLUMNS = (
    "saga_type",
    "saga_key",
    "state",
    "current_step",
    "data",
    "failure_reason",
    "deadline",
    "attempts",
    "backing_off",
    "step_deadline",
    "awaited_command_id",
)
"""The columns `SqlSagaStore._row` fills: what a save writes."""
_LOG_COLUMNS = ("step", "status", "at", "detail")


@dataclass(frozen=True)
class _Statements:
    """The store's statements on every reply, built once per set of tables: executed with
    each call's values, SQLAlchemy reuses their compiled form instead of building each
    statement and its cache key again."""

    add: Any
    get: Any
    get_locked: Any
    find: Any
    newest: Any
    save: UpdateByKey
    append_log: Any
    next_progress: Any


@functools.cache
def _statements(tables: SagaTables) -> _Statements:
    instances, log = tables.instances, tables.log
    # A saga and its step log in one round trip: the log's columns as arrays, in log order.
    log_arrays = (
        select(
            *(
                func.array_agg(aggregate_order_by(log.c[name], log.c.id)).label(f"log_{name}")
                for name in _LOG_COLUMNS
            )
        )
        .where(log.c.saga_id == instances.c.saga_id)
        .lateral("log_arrays")
    )
    with_log = select(instances, *(log_arrays.c[f"log_{name}"] for name in _LOG_COLUMNS))
    with_log = with_log.select_from(instances.join(log_arrays, true()))
    get = with_log.where(instances.c.saga_id == bindparam("saga_id", type_=Uuid()))
    return _Statements(
        add=insert_or_skip(
            instances,
            ("saga_id", "version", *_ROW_COLUMNS),
            conflict="ON CONSTRAINT saga_instances_type_key",
            returning="saga_id",
        ),
        get=get,
        get_locked=get.with_for_update(of=instances),
        find=with_log.where(
            instances.c.saga_type == bindparam("saga_type"),
            instances.c.saga_key == bindparam("saga_key"),
        ),
        newest=with_log.where(instances.c.saga_key.in_(bindparam("keys", expanding=True)))
        .distinct(instances.c.saga_key)
        .order_by(instances.c.saga_key, instances.c.created_at.desc(), instances.c.saga_id),
        save=update_by_key(instances, (*_ROW_COLUMNS, "version"), key=("saga_id", "version")),
        append_log=insert(log),
        next_progress=select(tables.progress.next_value()),
    )


@functools.cache
def _due_query(instances: Table, outbox: Table):
    now = bindparam("now", type_=DateTime(timezone=True))
    # How long the awaited command waited to be published (0 while it waits, or when there is
    # no row: GREATEST skips NULLs). Never negative, whatever the clocks did.
    waited = outbox.c.published_at - outbox.c.created_at
    sent_after = func.greatest(waited, timedelta(0))
    return (
        select(instances.c.saga_id, sent_after)
        .select_from(
            instances.outerjoin(outbox, outbox.c.event_id == instances.c.awaited_command_id)
        )
        .where(
            instances.c.deadline <= now,
            instances.c.state.in_([state.value for state in ACTIVE_STATES]),
            or_(
                outbox.c.event_id.is_(None),
                and_(outbox.c.published_at.is_not(None), instances.c.deadline + sent_after <= now),
            ),
        )
        .order_by(instances.c.deadline)
        .limit(bindparam("limit"))
        .with_for_update(of=instances, skip_locked=True)
    )


class SqlSagaStore(SagaStore):
    """The saga store on one session; `outbox` is the table the orchestrator's commands are
    written to (the relay marks them published there)."""

    def __init__(self, session: Session, tables: SagaTables, *, outbox: Table):
        self.session = session
        self.instances = tables.instances
        self.log = tables.log
        self.progress = tables.progress
        self.outbox = outbox
        self._sql = _statements(tables)

    def add(self, instance: SagaInstance) -> bool:
        row = self._row(instance) | {"saga_id": uuid.UUID(instance.saga_id), "version": 1}
        result = self.session.execute(self._sql.add, row)
        if result.first() is None:
            return False
        instance.version = 1
        self._append_log(instance)
        return True

    def get(self, saga_id: str, *, lock: bool = False) -> SagaInstance | None:
        query = self._sql.get_locked if lock else self._sql.get
        row = self.session.execute(query, {"saga_id": _uuid(saga_id)}).first()
        return None if row is None else self._instance(row)

    def find(self, saga_type: str, key: str) -> SagaInstance | None:
        row = self.session.execute(
            self._sql.find, {"saga_type": saga_type, "saga_key": key}
        ).first()
        return None if row is None else self._instance(row)

    def newest(self, keys: list[str]) -> dict[str, SagaInstance]:
        if not keys:
            return {}
        rows = self.session.execute(self._sql.newest, {"keys": keys})
        return {row.saga_key: self._instance(row) for row in rows}

    def save(self, instance: SagaInstance) -> None:
        # An UPDATE's result is a CursorResult, though Session.execute is typed as a plain Result.
        result = cast(
            "CursorResult[Any]",
            self.session.execute(
                self._sql.save.statement,
                self._sql.save.parameters(
                    {**self._row(instance), "version": instance.version + 1},
                    saga_id=_uuid(instance.saga_id),
                    version=instance.version,
                ),
            ),
        )
        if result.rowcount != 1:
            raise ConcurrentSagaUpdate(f"saga {instance.saga_id} changed since it was loaded")
        instance.version += 1
        self._append_log(instance)

    def next_progress_version(self) -> int:
        return self.session.execute(self._sql.next_progress).scalar_one()

    def due(self, now: datetime, limit: int = 100) -> list[DueSaga]:
        """Locked for this transaction (other orchestrators skip them). How long the command
        waited to be published is `published_at - created_at`, both the database's clock; a
        saga row from before `awaited_command_id` existed awaits no known command. The partial
        index on the stored deadline still picks the candidates (the effective deadline is
        never earlier), and the outbox is reached by its unique event id."""
        rows = self.session.execute(self._due(), {"now": now, "limit": limit}).all()
        return [DueSaga(str(saga_id), delay or timedelta(0)) for saga_id, delay in rows]

    def _due(self):
        """The timeout loop's query, built once per outbox table (the loop runs it four times a
        second, loaded or idle)."""
        return _due_query(self.instances, self.outbox)

    def unsent_unreported(
        self, now: datetime, unsent_for: timedelta, limit: int = 100
    ) -> list[UnsentCommand]:
        """Their stored deadline (`written + window`) has passed as long as `unsent_for` exceeds a
        step's window, so the same partial index on it picks the candidates."""
        instances, outbox = self.instances, self.outbox
        written_before = now - unsent_for
        rows = self.session.execute(
            select(
                instances.c.saga_id,
                instances.c.saga_type,
                instances.c.saga_key,
                instances.c.current_step,
                outbox.c.event_id,
                outbox.c.event_type,
                outbox.c.created_at,
            )
            .select_from(
                instances.join(outbox, outbox.c.event_id == instances.c.awaited_command_id)
            )
            .where(
                instances.c.deadline <= now,
                instances.c.state.in_([state.value for state in ACTIVE_STATES]),
                outbox.c.published_at.is_(None),
                outbox.c.created_at <= written_before,
                instances.c.unsent_reported_id.is_distinct_from(instances.c.awaited_command_id),
            )
            .order_by(outbox.c.created_at)
            .limit(limit)
            .with_for_update(of=instances, skip_locked=True)
        ).all()
        if rows:
            self.session.execute(
                update(instances)
                .where(instances.c.saga_id.in_([row.saga_id for row in rows]))
                .values(unsent_reported_id=instances.c.awaited_command_id)
            )
        return [
            UnsentCommand(
                str(row.saga_id),
                row.saga_type,
                row.saga_key,
                row.current_step,
                str(row.event_id),
                row.event_type,
                row.created_at,
            )
            for row in rows
        ]

    def count_by_state(self) -> dict[str, int]:
        rows = self.session.execute(
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
            "backing_off": instance.backing_off,
            "step_deadline": instance.step_deadline,
            "awaited_command_id": _optional_uuid(instance.awaited_command_id),
        }

    def _append_log(self, instance: SagaInstance) -> None:
        if instance.new_entries:
            entries = instance.log[-instance.new_entries :]
            self.session.execute(
                self._sql.append_log,
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

    def _instance(self, row) -> SagaInstance:
        entries = zip(*(getattr(row, f"log_{name}") or [] for name in _LOG_COLUMNS), strict=True)
        return SagaInstance(
            saga_id=str(row.saga_id),
            saga_type=row.saga_type,
            key=row.saga_key,
            state=SagaState(row.state),
            data=dict(row.data),
            current_step=row.current_step,
            deadline=row.deadline,
            attempts=row.attempts,
            backing_off=row.backing_off,
            step_deadline=row.step_deadline,
            awaited_command_id=None
            if row.awaited_command_id is None
            else str(row.awaited_command_id),
            failure_reason=row.failure_reason,
            log=[
                LogEntry(step, StepStatus(status), at, detail)
                for step, status, at, detail in entries
            ],
            version=row.version,
        )


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


def _optional_uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)
