"""Saga operations shared by `shopctl sagas` and the console: queries with filters and pages,
one saga with its definition, checkout throughput, and the operator's retry (of one saga or of
every saga a filter matches), each retry recorded in the audit log.

Everything goes through the orchestrator's own store and engine: a retry here is the same
transition, in the same transaction, as the orchestrator would make.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eventing.config import KafkaSettings
from eventing.errors import EventingError
from order_service import orm
from sagas.definitions import CHECKOUT
from sagas.deployable import DEPLOYABLE, SagaRuntime, orchestrator
from sagas.framework.definition import SagaDefinition
from sagas.framework.engine import NothingToRetry, SagaInstance, SagaState
from sagas.framework.orchestrator import Orchestrator
from shopctl import audit

#: The states an operator's retry applies to: waiting on a command, or parked.
RETRIABLE_STATES = (
    SagaState.RUNNING,
    SagaState.COMPENSATING,
    SagaState.ABORTING,
    SagaState.COMPENSATION_FAILED,
)


class SagaOperationFailed(EventingError):
    """A saga operation refused or failed: the message says why, in one line."""


@cache
def _runtime() -> SagaRuntime:
    return DEPLOYABLE.runtime()


def _orchestrator() -> Orchestrator:
    return orchestrator(_runtime())


def _kafka() -> KafkaSettings:
    return _runtime().kafka


@dataclass(frozen=True)
class SagaFilter:
    saga_type: str | None = None
    state: str | None = None
    older_than: timedelta | None = None
    """Not changed for at least this long."""
    order_id: str | None = None
    customer_id: str | None = None

    def describe(self) -> str:
        parts = [
            f"type={self.saga_type}" if self.saga_type else "",
            f"state={self.state}" if self.state else "",
            f"older-than={_duration(self.older_than)}" if self.older_than else "",
            f"order={self.order_id}" if self.order_id else "",
            f"customer={self.customer_id}" if self.customer_id else "",
        ]
        return " ".join(part for part in parts if part) or "all sagas"


_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """`30s`, `10m`, `2h` or `1d`."""
    match = _DURATION.match(text.strip())
    if not match:
        raise SagaOperationFailed(f"{text!r} is not a duration like 30s, 10m, 2h or 1d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def filter_from_text(
    *, saga_type: str, state: str, older_than: str, order_id: str, customer_id: str
) -> SagaFilter:
    """A filter from an operator's text (a form, a query string); blanks mean any."""
    saga_type, state, order_id, customer_id = (
        value.strip() for value in (saga_type, state, order_id, customer_id)
    )
    if saga_type and saga_type not in saga_types():
        raise SagaOperationFailed(f"no saga type {saga_type!r}; known: {', '.join(saga_types())}")
    if state and state not in SagaState.__members__:
        raise SagaOperationFailed(
            f"no saga state {state!r}; known: {', '.join(SagaState.__members__)}"
        )
    for name, value in (("order id", order_id), ("customer id", customer_id)):
        if len(value) > 200 or not value.isprintable():
            raise SagaOperationFailed(f"that {name} is not printable text up to 200 characters")
    return SagaFilter(
        saga_type or None,
        state or None,
        parse_duration(older_than) if older_than.strip() else None,
        order_id or None,
        customer_id or None,
    )


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class SagaRow:
    saga_id: str
    saga_type: str
    saga_key: str
    state: str
    current_step: str | None
    failure_reason: str | None
    deadline: datetime | None
    attempts: int
    customer_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SagaPage:
    rows: Sequence[SagaRow]
    total: int
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.rows) < self.total


def _where(saga_filter: SagaFilter, *, now: datetime) -> list:
    table = orm.saga_instances
    conditions = []
    if saga_filter.saga_type:
        conditions.append(table.c.saga_type == saga_filter.saga_type)
    if saga_filter.state:
        conditions.append(table.c.state == saga_filter.state)
    if saga_filter.older_than:
        conditions.append(table.c.updated_at <= now - saga_filter.older_than)
    if saga_filter.order_id:
        conditions.append(table.c.saga_key == saga_filter.order_id)
    if saga_filter.customer_id:
        conditions.append(table.c.data["customer_id"].astext == saga_filter.customer_id)
    return conditions


def list_sagas(saga_filter: SagaFilter, *, limit: int = 50, offset: int = 0) -> SagaPage:
    """A page of the matching sagas, newest change first, with how many match in all."""
    table = orm.saga_instances
    conditions = _where(saga_filter, now=datetime.now(UTC))
    with Session(_runtime().engine) as session:
        total = session.execute(select(func.count()).select_from(table).where(*conditions))
        rows = session.execute(
            select(table)
            .where(*conditions)
            .order_by(table.c.updated_at.desc(), table.c.saga_id)
            .limit(limit)
            .offset(offset)
        ).all()
        return SagaPage([_row(row) for row in rows], total.scalar_one(), offset, limit)


def _row(row) -> SagaRow:
    return SagaRow(
        saga_id=str(row.saga_id),
        saga_type=row.saga_type,
        saga_key=row.saga_key,
        state=row.state,
        current_step=row.current_step,
        failure_reason=row.failure_reason,
        deadline=row.deadline,
        attempts=row.attempts,
        customer_id=(row.data or {}).get("customer_id"),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def show(saga_id: str) -> SagaInstance:
    with _runtime().uow_factory() as uow:
        instance = uow.sagas.get(_checked(saga_id))
    if instance is None:
        raise SagaOperationFailed(f"no saga {saga_id}")
    return instance


def for_order(order_id: str) -> list[SagaInstance]:
    """The order's sagas (its checkout, and its cancellation if one was asked), oldest first."""
    page = list_sagas(SagaFilter(order_id=order_id), limit=10)
    return sorted((show(row.saga_id) for row in page.rows), key=lambda s: s.log[0].at)


def definition(saga_type: str) -> SagaDefinition:
    return _orchestrator().engines[saga_type].definition


def saga_types() -> list[str]:
    return sorted(_orchestrator().engines)


def awaited_command(instance: SagaInstance) -> str:
    """What the saga waits on, as an operator reads it: `capture_payment`, or
    `undo reserve_stock` while compensating."""
    if instance.current_step is None:
        return "-"
    undoing = instance.state in (SagaState.COMPENSATING, SagaState.COMPENSATION_FAILED)
    return f"undo {instance.current_step}" if undoing else instance.current_step


def retry(saga_id: str, *, actor: str) -> SagaInstance:
    """Send a stuck or parked saga's awaited command again, with fresh attempts."""
    checked = _checked(saga_id)
    audit.prepare(_kafka())
    try:
        instance = _orchestrator().retry(checked)
    except KeyError:
        raise SagaOperationFailed(f"no saga {saga_id}") from None
    except NothingToRetry as error:
        raise SagaOperationFailed(str(error)) from None
    audit.record(
        _kafka(),
        actor,
        "saga.retry",
        checked,
        f"{instance.saga_type} for {instance.key}: resent {awaited_command(instance)}",
    )
    return instance


@dataclass
class RetryReport:
    matched: list[SagaRow] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Saga id -> why its retry failed (e.g. it finished meanwhile)."""


def retriable(saga_filter: SagaFilter, *, limit: int = 10_000) -> list[SagaRow]:
    """The sagas a retry of `saga_filter` would touch: only those in a retriable state."""
    states = [saga_filter.state] if saga_filter.state else [s.value for s in RETRIABLE_STATES]
    rows: list[SagaRow] = []
    for state in states:
        if state not in RETRIABLE_STATES:
            continue
        scoped = SagaFilter(**{**saga_filter.__dict__, "state": state})
        rows.extend(list_sagas(scoped, limit=limit).rows)
    return rows


def retry_matching(
    saga_filter: SagaFilter, *, actor: str, dry_run: bool = False, expected: int | None = None
) -> RetryReport:
    """Retry every retriable saga the filter matches. With `expected` (the count an operator
    confirmed), refuses when the filter now matches another number: what was confirmed is not
    what would happen."""
    report = RetryReport(matched=retriable(saga_filter))
    if expected is not None and expected != len(report.matched):
        raise SagaOperationFailed(
            f"{saga_filter.describe()} now matches {len(report.matched)} retriable saga(s), "
            f"not the {expected} confirmed; look again"
        )
    if dry_run:
        return report
    audit.prepare(_kafka())
    for row in report.matched:
        try:
            _orchestrator().retry(row.saga_id)
        except (KeyError, NothingToRetry) as error:
            report.failed[row.saga_id] = str(error) or type(error).__name__
        else:
            report.retried.append(row.saga_id)
    audit.record(
        _kafka(),
        actor,
        "sagas.retry-matching",
        saga_filter.describe(),
        f"retried {len(report.retried)} of {len(report.matched)}"
        + (f"; failed: {', '.join(sorted(report.failed))}" if report.failed else ""),
    )
    return report


def counts_by_state() -> dict[str, int]:
    with _runtime().uow_factory() as uow:
        return uow.sagas.count_by_state()


@dataclass(frozen=True)
class MinuteOfCheckouts:
    minute: datetime
    started: int
    finished: int
    """Of the checkouts started that minute, how many have ended (completed or aborted)."""
    p50_ms: float | None
    """Median time from start to end of the finished ones."""


def checkout_minutes(*, minutes: int = 15, now: datetime | None = None) -> list[MinuteOfCheckouts]:
    """Checkouts started per minute over the last `minutes`, with their latency (from the
    saga's start to its last change, for the ones that ended), oldest minute first."""
    table = orm.saga_instances
    now = now or datetime.now(UTC)
    since = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    with Session(_runtime().engine) as session:
        rows = session.execute(
            select(table.c.created_at, table.c.updated_at, table.c.state).where(
                table.c.saga_type == CHECKOUT, table.c.created_at >= since
            )
        ).all()
    return bucket_by_minute(
        [(r.created_at, r.updated_at, r.state) for r in rows], since=since, minutes=minutes
    )


def bucket_by_minute(
    sagas: Sequence[tuple[datetime, datetime, str]], *, since: datetime, minutes: int
) -> list[MinuteOfCheckouts]:
    """(created, updated, state) triples into per-minute counts and median latency."""
    buckets: list[list[tuple[datetime, datetime, str]]] = [[] for _ in range(minutes)]
    for created, updated, state in sagas:
        index = int((created - since).total_seconds() // 60)
        if 0 <= index < minutes:
            buckets[index].append((created, updated, state))
    result = []
    for index, bucket in enumerate(buckets):
        ended = sorted(
            (updated - created).total_seconds() * 1000
            for created, updated, state in bucket
            if state in (SagaState.COMPLETED, SagaState.ABORTED)
        )
        median = None
        if ended:
            middle = len(ended) // 2
            median = ended[middle] if len(ended) % 2 else (ended[middle - 1] + ended[middle]) / 2
        result.append(
            MinuteOfCheckouts(since + timedelta(minutes=index), len(bucket), len(ended), median)
        )
    return result


def _checked(saga_id: str) -> str:
    try:
        return str(uuid.UUID(saga_id))
    except ValueError:
        raise SagaOperationFailed(f"{saga_id!r} is not a saga id (a UUID)") from None
