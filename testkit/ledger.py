"""A minimal service for testing the backbone: ledger entries written through the outbox and
applied by an idempotent consumer. Each entry's effect is a row in `applied` (which has no
unique key of its own, so only the inbox stands between a redelivery and a double effect)."""

from __future__ import annotations

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

from eventing.inbox import Inbox
from eventing.outbox import Outbox
from eventing.registry import Decoded, Event, EventRegistry, envelope_for
from eventing.sql import hold_tables, inbox_table, outbox_table

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


def add_entry(engine: Engine, topic: str, account_id: str, seq: int, amount_cents: int = 100):
    """The service's write: state change and event in one transaction."""
    with engine.begin() as connection:
        connection.execute(
            insert(entries).values(account_id=account_id, seq=seq, amount_cents=amount_cents)
        )
        event = EntryAdded(account_id=account_id, seq=seq, amount_cents=amount_cents)
        outbox.add(connection, topic, envelope_for(event))


def applying_handler(engine: Engine, consumer_name: str = "ledger-projection"):
    inbox = Inbox(inbox_rows, consumer_name)

    def handle(decoded: Decoded) -> None:
        event = decoded.event
        assert isinstance(event, EntryAdded)
        with engine.begin() as connection:
            if not inbox.claim(connection, decoded.envelope.event_id, decoded.envelope.type):
                return
            connection.execute(
                insert(applied).values(
                    account_id=event.account_id, seq=event.seq, amount_cents=event.amount_cents
                )
            )

    return handle


def applied_rows(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as connection:
        return [
            (row.account_id, row.seq)
            for row in connection.execute(select(applied).order_by(applied.c.id))
        ]


def applied_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(applied)).scalar_one()
