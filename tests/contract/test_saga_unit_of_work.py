"""The orchestrator's unit of work, written once and run against both adapters (in memory; and
PostgreSQL, marked integration): the inbox claim, the saga and the commands it emits are kept
together or not at all, an emitted command is caused by the message in hand and carries the
saga's id, and a command in the outbox holds its saga's deadline until it is published."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.orm import sessionmaker

from contracts import orders
from eventing.envelope import Envelope, utc_now
from eventing.inbox import Inbox
from eventing.outbox import Outbox
from eventing.registry import envelope_for
from order_service import orm
from order_service.uow import SqlOrderUnitOfWork
from sagas.definitions import checkout_saga
from sagas.framework.engine import SagaEngine, SagaInstance
from sagas.framework.fakes import InMemorySagaTables, InMemorySagaUnitOfWork
from sagas.framework.ports import SagaUnitOfWork
from servicekit.unit_of_work import InMemoryMessageStore
from testkit.scratch import migrated_database, outbox_rows


@dataclass
class UnitOfWorkUnderTest:
    unit_of_work: Callable[[], SagaUnitOfWork]
    outbox: Callable[[], list[Envelope]]
    """What the outbox holds, committed, in the order written."""


def in_memory() -> Iterator[UnitOfWorkUnderTest]:
    tables, messages = InMemorySagaTables(), InMemoryMessageStore(consumer="checkout-saga")
    yield UnitOfWorkUnderTest(
        lambda: InMemorySagaUnitOfWork(tables, messages),
        lambda: [item.envelope for item in messages.outbox],
    )


def postgresql() -> Iterator[UnitOfWorkUnderTest]:
    with migrated_database("order_service", pool_size=2) as engine:
        sessions = sessionmaker(engine, expire_on_commit=False)
        outbox, inbox = Outbox(orm.outbox), Inbox(orm.inbox, "checkout-saga")

        def written() -> list[Envelope]:
            return [row.envelope for row in outbox_rows(engine, orm.outbox)]

        yield UnitOfWorkUnderTest(lambda: SqlOrderUnitOfWork(sessions, outbox, inbox), written)


@pytest.fixture(params=["in_memory", pytest.param("postgresql", marks=pytest.mark.integration)])
def adapter(request) -> Iterator[UnitOfWorkUnderTest]:
    yield from {"in_memory": in_memory, "postgresql": postgresql}[request.param]()


def order_created() -> Envelope:
    created = orders.OrderCreated(
        order_id="order-1",
        customer_id="c1",
        payment_method="tok_visa",
        total_cents=100,
        items=[{"sku": "SKU-1", "quantity": 1, "unit_price_cents": 100}],
    )
    return envelope_for(created)


def start_saga(uow: SagaUnitOfWork, message: Envelope) -> tuple[SagaInstance, uuid.UUID]:
    """What the orchestrator's start does: claim, store the saga awaiting its command, emit."""
    uow.handling(message)
    assert uow.claim(message)
    trigger = orders.OrderCreated.model_validate(message.payload)
    saga, [command] = SagaEngine(checkout_saga()).start(str(uuid.uuid4()), trigger, utc_now())
    command_id = uuid.uuid4()
    saga.awaited_command_id = str(command_id)
    assert uow.sagas.add(saga)
    uow.emit(command, correlation_id=saga.saga_id, event_id=command_id)
    return saga, command_id


def test_a_committed_unit_of_work_keeps_the_claim_the_saga_and_its_command(adapter):
    message = order_created()
    with adapter.unit_of_work() as uow:
        saga, command_id = start_saga(uow, message)
        uow.commit()

    with adapter.unit_of_work() as uow:
        assert uow.sagas.get(saga.saga_id) == saga
        assert not uow.claim(message), "claimed once"
    assert [envelope.event_id for envelope in adapter.outbox()] == [command_id]


def test_an_uncommitted_unit_of_work_keeps_none_of_them(adapter):
    message = order_created()
    with adapter.unit_of_work() as uow:
        saga, _ = start_saga(uow, message)

    with adapter.unit_of_work() as uow:
        assert uow.sagas.get(saga.saga_id) is None
        assert uow.claim(message), "the message may be applied again"
    assert adapter.outbox() == []


def test_a_command_is_caused_by_the_message_in_hand_and_carries_the_saga_id(adapter):
    message = order_created()
    with adapter.unit_of_work() as uow:
        assert uow.correlation_id() is None
        saga, _ = start_saga(uow, message)
        assert uow.correlation_id() == message.correlation_id
        uow.commit()

    [command] = adapter.outbox()
    assert (command.type, command.causation_id) == ("ReserveStock", str(message.event_id))
    assert command.correlation_id == saga.saga_id


def test_an_awaited_command_still_in_the_outbox_holds_its_sagas_deadline(adapter):
    with adapter.unit_of_work() as uow:
        saga, _ = start_saga(uow, order_created())
        uow.commit()

    assert saga.deadline is not None
    with adapter.unit_of_work() as uow:
        assert uow.sagas.due(saga.deadline + timedelta(minutes=5)) == []
