"""A minimal service for testing the backbone: ledger entries written through the outbox and
applied by an idempotent consumer, both on the shared message path (`SqlUnitOfWork`, and the
`Dispatcher` that claims each message in the inbox, applies it and commits). Each entry's
effect is a row in `applied` (which has no unique key of its own, so only the inbox stands
between a redelivery and a double effect)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Identity,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session, sessionmaker

from eventing.inbox import Inbox
from eventing.outbox import Outbox
from eventing.registry import Event, EventRegistry, envelope_for
from eventing.sql import hold_tables, inbox_table, outbox_table
from servicekit.dispatch import Dispatcher
from servicekit.unit_of_work import SqlUnitOfWork

metadata = MetaData()
entries = Table(
    "entries",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("account_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("amount_cents", Integer, nullable=False),
)
applied = Table(
    "applied",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("account_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("amount_cents", Integer, nullable=False),
)
outbox = Outbox(outbox_table(metadata))
inbox_rows = inbox_table(metadata)
holds = hold_tables(metadata)

registry = EventRegistry()


@registry.register
class EntryAdded(Event):
    event_type: ClassVar[str] = "EntryAdded"
    aggregate_type: ClassVar[str] = "Account"
    aggregate_key: ClassVar[str] = "account_id"

    account_id: str
    seq: int
    amount_cents: int


class Ledger:
    """The ledger's tables, in one unit of work's session."""

    def __init__(self, session: Session):
        self.session = session

    def record_entry(self, account_id: str, seq: int, amount_cents: int) -> None:
        self.session.execute(
            insert(entries).values(account_id=account_id, seq=seq, amount_cents=amount_cents)
        )

    def record_applied(self, entry: EntryAdded) -> None:
        self.session.execute(
            insert(applied).values(
                account_id=entry.account_id, seq=entry.seq, amount_cents=entry.amount_cents
            )
        )


class LedgerUnitOfWork(SqlUnitOfWork):
    ledger: Ledger

    def _start(self) -> None:
        self.ledger = Ledger(self.session)


def unit_of_work(
    engine: Engine, consumer_name: str = "ledger-projection"
) -> Callable[[], LedgerUnitOfWork]:
    """A factory of the ledger's units of work on `engine`, its inbox `consumer_name`'s."""
    sessions = sessionmaker(engine, expire_on_commit=False)
    inbox = Inbox(inbox_rows, consumer_name)
    return lambda: LedgerUnitOfWork(sessions, outbox, inbox)


def add_entry(engine: Engine, topic: str, account_id: str, seq: int, amount_cents: int = 100):
    """The service's write: state change and event in one transaction."""
    with unit_of_work(engine)() as uow:
        uow.ledger.record_entry(account_id, seq, amount_cents)
        event = EntryAdded(account_id=account_id, seq=seq, amount_cents=amount_cents)
        uow.add_to_outbox(topic, envelope_for(event))
        uow.commit()


def apply_entry(uow: LedgerUnitOfWork, entry: EntryAdded) -> None:
    """The projection's use case: the entry's effect."""
    uow.ledger.record_applied(entry)


def applying_handler(
    engine: Engine, consumer_name: str = "ledger-projection"
) -> Dispatcher[LedgerUnitOfWork]:
    """The consumer's handler: each EntryAdded applied once, however often it is delivered."""
    return Dispatcher(unit_of_work(engine, consumer_name), {EntryAdded: apply_entry})


def applied_rows(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as connection:
        return [
            (row.account_id, row.seq)
            for row in connection.execute(select(applied).order_by(applied.c.id))
        ]


def applied_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(applied)).scalar_one()
