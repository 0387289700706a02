"""The order service's two adapters behind one face, for the contract tests that run each
spec on both: `in_memory` (the fake, a fresh service per test) and `postgresql` (the real
adapter on a scratch database of the test module's own, marked `integration`). Tests on the
shared database tell their rows apart by ids of their own (`fresh_id`).

A test module imports `adapter_fixture` and `order_database_fixture`; its tests take
`adapter`."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from eventing.envelope import Envelope
from eventing.inbox import Inbox
from eventing.outbox import Outbox
from order_service import orm
from order_service.deployable import DEPLOYABLE
from order_service.fakes import InMemoryOrderService
from order_service.uow import OrderUnitOfWork, SqlOrderUnitOfWork
from testkit.scratch import migrated_database, outbox_rows


@dataclass(frozen=True)
class Emitted:
    topic: str
    envelope: Envelope


class OrderAdapter(ABC):
    """What a contract test needs of an adapter: units of work, and what they committed to
    the outbox (in order)."""

    @abstractmethod
    def unit_of_work(self) -> OrderUnitOfWork: ...

    @abstractmethod
    def emitted(self) -> list[Emitted]: ...


class InMemoryOrders(OrderAdapter):
    def __init__(self) -> None:
        self.service = InMemoryOrderService()

    def unit_of_work(self) -> OrderUnitOfWork:
        return self.service.unit_of_work()

    def emitted(self) -> list[Emitted]:
        return [Emitted(item.topic, item.envelope) for item in self.service.messages.outbox]


class PostgresOrders(OrderAdapter):
    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.outbox = Outbox(orm.outbox)
        self.inbox = Inbox(orm.inbox, DEPLOYABLE.name)

    def unit_of_work(self) -> OrderUnitOfWork:
        return SqlOrderUnitOfWork(self.sessions, self.outbox, self.inbox)

    def emitted(self) -> list[Emitted]:
        return [Emitted(row.topic, row.envelope) for row in outbox_rows(self.engine, orm.outbox)]


ADAPTERS = ["in_memory", pytest.param("postgresql", marks=pytest.mark.integration)]


@pytest.fixture(scope="module", name="order_database")
def order_database_fixture() -> Iterator[sa.Engine]:
    """A scratch database with the order service's schema, for one test module."""
    with migrated_database("order_service", pool_size=2) as engine:
        yield engine


@pytest.fixture(params=ADAPTERS, name="adapter")
def adapter_fixture(request: pytest.FixtureRequest) -> OrderAdapter:
    if request.param == "in_memory":
        return InMemoryOrders()
    return PostgresOrders(request.getfixturevalue("order_database"))


def fresh_id(prefix: str) -> str:
    """An id no other test uses (the PostgreSQL adapter's database is the module's)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
