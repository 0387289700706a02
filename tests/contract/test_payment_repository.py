"""The payment repository's and payment unit of work's contract, written once and run on both
adapters: PostgreSQL (`SqlPaymentUnitOfWork` on a scratch database migrated by payment's own
migrations) and in memory (`InMemoryPaymentUnitOfWork`, the fake the use-case tests run on)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from contracts import payment as messages
from eventing.envelope import Envelope
from eventing.inbox import Inbox
from eventing.outbox import Outbox
from payment_service import orm
from payment_service.domain import Payment, PaymentStatus
from payment_service.fakes import CONSUMER, InMemoryPaymentUnitOfWork
from payment_service.uow import PaymentUnitOfWork, SqlPaymentUnitOfWork
from testkit.scratch import migrated_database, outbox_rows


@dataclass
class Adapter:
    """One adapter under test: how to open a unit of work, and what it committed to send."""

    new_uow: Callable[[], PaymentUnitOfWork]
    committed_outbox: Callable[[], list[Envelope]]


@pytest.fixture(scope="module")
def payments_database() -> Iterator[Engine]:
    """Payment's schema on a scratch database, migrated once per module."""
    with migrated_database("payment_service") as engine:
        yield engine


def _in_memory(request: pytest.FixtureRequest) -> Adapter:
    uow = InMemoryPaymentUnitOfWork()
    return Adapter(lambda: uow, lambda: [e.envelope for e in uow.store.outbox])


def _postgresql(request: pytest.FixtureRequest) -> Adapter:
    engine: Engine = request.getfixturevalue("payments_database")
    tables = ", ".join(table.name for table in orm.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
    sessions = sessionmaker(engine, expire_on_commit=False)
    outbox, inbox = Outbox(orm.outbox), Inbox(orm.inbox, CONSUMER)

    def committed_outbox() -> list[Envelope]:
        return [row.envelope for row in outbox_rows(engine, orm.outbox)]

    return Adapter(lambda: SqlPaymentUnitOfWork(sessions, outbox, inbox), committed_outbox)


@pytest.fixture(
    params=[
        pytest.param(_in_memory, id="in_memory"),
        pytest.param(_postgresql, id="postgresql", marks=pytest.mark.integration),
    ]
)
def adapter(request: pytest.FixtureRequest) -> Adapter:
    return request.param(request)


def a_payment(order_id: str = "o-1", **changes) -> Payment:
    payment = Payment(
        payment_id=str(uuid.uuid4()),
        order_id=order_id,
        customer_id="c-1",
        amount_cents=2500,
        status=PaymentStatus.AUTHORIZED,
    )
    return replace(payment, **changes)


def kept(adapter: Adapter, *payments: Payment) -> None:
    with adapter.new_uow() as uow:
        for payment in payments:
            assert uow.payments.add(payment)
        uow.commit()


def test_a_kept_payment_is_found_by_its_order_and_by_its_id_as_it_was_kept(adapter):
    payment = a_payment(
        amount_cents=214_748_364_700, status=PaymentStatus.DECLINED, decline_reason="NO_FUNDS"
    )
    kept(adapter, payment)
    with adapter.new_uow() as uow:
        assert uow.payments.for_order("o-1") == payment
        assert uow.payments.for_order("o-1", lock=False) == payment
        assert uow.payments.by_id(payment.payment_id) == payment


def test_an_unknown_order_or_id_has_no_payment(adapter):
    kept(adapter, a_payment())
    with adapter.new_uow() as uow:
        assert uow.payments.for_order("o-other") is None
        assert uow.payments.by_id(str(uuid.uuid4())) is None


def test_an_order_has_at_most_one_payment(adapter):
    first = a_payment()
    kept(adapter, first)
    with adapter.new_uow() as uow:
        assert not uow.payments.add(a_payment(status=PaymentStatus.VOIDED))
        uow.commit()
    with adapter.new_uow() as uow:
        assert uow.payments.for_order("o-1") == first


def test_saving_records_the_new_status(adapter):
    payment = a_payment()
    kept(adapter, payment)
    with adapter.new_uow() as uow:
        uow.payments.save(payment.captured())
        assert uow.payments.for_order("o-1") == payment.captured(), "seen in its own unit of work"
        uow.commit()
    with adapter.new_uow() as uow:
        assert uow.payments.for_order("o-1") == replace(payment, status=PaymentStatus.CAPTURED)


def test_saving_a_payment_never_kept_keeps_nothing(adapter):
    with adapter.new_uow() as uow:
        uow.payments.save(a_payment("o-ghost"))
        uow.commit()
    with adapter.new_uow() as uow:
        assert uow.payments.for_order("o-ghost") is None


def test_a_payment_and_its_reply_commit_together(adapter):
    payment = a_payment()
    with adapter.new_uow() as uow:
        uow.payments.add(payment)
        uow.emit(
            messages.PaymentAuthorized(
                order_id="o-1", payment_id=payment.payment_id, amount_cents=2500
            )
        )
        assert adapter.committed_outbox() == [], "nothing is sent before the commit"
        uow.commit()
    [reply] = adapter.committed_outbox()
    assert (reply.type, reply.aggregate_id) == ("PaymentAuthorized", "o-1")
    with adapter.new_uow() as uow:
        assert uow.payments.for_order("o-1") == payment


def test_a_unit_of_work_left_without_commit_leaves_no_payment_no_change_and_no_reply(adapter):
    authorized = a_payment()
    kept(adapter, authorized)
    with adapter.new_uow() as uow:
        uow.payments.add(a_payment("o-2"))
        uow.payments.save(authorized.captured())
        uow.emit(messages.PaymentVoided(order_id="o-2", payment_id="p", amount_cents=0))
    with adapter.new_uow() as uow:
        assert uow.payments.for_order("o-2") is None
        assert uow.payments.for_order("o-1") == authorized
    assert adapter.committed_outbox() == []


def test_a_failure_after_a_commit_keeps_what_was_committed(adapter):
    payment = a_payment()
    with pytest.raises(RuntimeError), adapter.new_uow() as uow:
        uow.payments.add(payment)
        uow.commit()
        uow.payments.save(payment.captured())
        raise RuntimeError("after the commit")
    with adapter.new_uow() as uow:
        assert uow.payments.for_order("o-1") == payment
