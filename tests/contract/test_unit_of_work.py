"""The unit-of-work port's contract, run on both adapters: PostgreSQL (`SqlUnitOfWork` on a
scratch database) and in memory (`InMemoryUnitOfWork`). The dispatcher is specified here too,
since what it promises (one claim, one effect, nothing of a failed attempt) is what the port
makes possible."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import MetaData
from sqlalchemy.orm import sessionmaker

from contracts import payment
from eventing.envelope import Envelope
from eventing.inbox import Inbox
from eventing.outbox import Outbox
from eventing.registry import Decoded, envelope_for
from eventing.sql import inbox_table, outbox_table
from servicekit.dispatch import Dispatcher
from servicekit.unit_of_work import (
    InMemoryMessageStore,
    InMemoryUnitOfWork,
    SqlUnitOfWork,
    UnitOfWork,
)
from testkit.scratch import outbox_rows, scratch_database

CONSUMER = "contract-consumer"


@dataclass
class Adapter:
    """One adapter under test: how to open a unit of work, and what it committed."""

    new_uow: Callable[[], UnitOfWork]
    committed_outbox: Callable[[], list[tuple[str, Envelope, dict[str, str]]]]


def _in_memory() -> Iterator[Adapter]:
    store = InMemoryMessageStore(consumer=CONSUMER)
    yield Adapter(
        new_uow=lambda: InMemoryUnitOfWork(store),
        committed_outbox=lambda: [(e.topic, e.envelope, e.headers) for e in store.outbox],
    )


def _postgresql() -> Iterator[Adapter]:
    metadata = MetaData()
    table, inbox_rows = outbox_table(metadata), inbox_table(metadata)
    with scratch_database() as engine:
        metadata.create_all(engine)
        outbox, inbox = Outbox(table), Inbox(inbox_rows, CONSUMER)
        sessions = sessionmaker(engine, expire_on_commit=False)

        def committed_outbox() -> list[tuple[str, Envelope, dict[str, str]]]:
            return [(row.topic, row.envelope, row.headers) for row in outbox_rows(engine, table)]

        yield Adapter(lambda: SqlUnitOfWork(sessions, outbox, inbox), committed_outbox)


@pytest.fixture(
    params=[
        pytest.param(_in_memory, id="in_memory"),
        pytest.param(_postgresql, id="postgresql", marks=pytest.mark.integration),
    ]
)
def adapter(request) -> Iterator[Adapter]:
    yield from request.param()


def authorized(order_id: str = "order-1") -> payment.PaymentAuthorized:
    return payment.PaymentAuthorized(order_id=order_id, payment_id="pay-1", amount_cents=1250)


def command(order_id: str = "order-1") -> Envelope:
    return envelope_for(payment.CapturePayment(order_id=order_id), correlation_id="saga-7")


def test_an_event_emitted_while_handling_a_message_is_caused_by_it(adapter):
    cause = command()
    with adapter.new_uow() as uow:
        uow.handling(cause)
        uow.emit(authorized())
        uow.commit()
    [(topic, envelope, _)] = adapter.committed_outbox()
    assert topic == payment.PaymentAuthorized.topic
    assert envelope.causation_id == str(cause.event_id)
    assert envelope.correlation_id == "saga-7"
    assert envelope.type == "PaymentAuthorized"
    assert envelope.payload["amount_cents"] == 1250


def test_an_event_emitted_outside_a_message_starts_a_correlation_of_its_own(adapter):
    with adapter.new_uow() as uow:
        uow.emit(authorized("a"))
        uow.emit(authorized("b"))
        uow.commit()
    first, second = (envelope for _, envelope, _ in adapter.committed_outbox())
    assert first.causation_id is None and second.causation_id is None
    assert first.correlation_id != second.correlation_id


def test_a_given_correlation_id_and_event_id_are_kept(adapter):
    event_id = uuid.uuid4()
    with adapter.new_uow() as uow:
        uow.handling(command())
        returned = uow.emit(authorized(), correlation_id="saga-9", event_id=event_id)
        uow.commit()
    [(_, envelope, _)] = adapter.committed_outbox()
    assert envelope == returned
    assert (envelope.event_id, envelope.correlation_id) == (event_id, "saga-9")


def test_a_unit_of_work_left_without_commit_emits_nothing_and_claims_nothing(adapter):
    message = command()
    with adapter.new_uow() as uow:
        assert uow.claim(message)
        uow.emit(authorized())
    assert adapter.committed_outbox() == []
    with adapter.new_uow() as uow:
        assert uow.claim(message), "the rolled-back claim must not count"


def test_a_committed_claim_refuses_the_same_message_again(adapter):
    message = command()
    with adapter.new_uow() as uow:
        assert uow.claim(message)
        uow.commit()
    with adapter.new_uow() as uow:
        assert not uow.claim(message)
        assert uow.claim(command()), "another message is claimed as usual"


def test_after_commit_callbacks_run_once_committed_and_never_on_rollback(adapter):
    ran: list[str] = []
    with adapter.new_uow() as uow:
        uow.after_commit(lambda: ran.append("rolled back"))
    assert ran == []
    with adapter.new_uow() as uow:
        uow.after_commit(lambda: ran.append("committed"))
        assert ran == []
        uow.commit()
    assert ran == ["committed"]


def test_the_current_trace_travels_with_each_emitted_event(adapter):
    tracer = TracerProvider().get_tracer("contract")
    with tracer.start_as_current_span("work") as span, adapter.new_uow() as uow:
        uow.emit(authorized())
        uow.commit()
    [(_, _, headers)] = adapter.committed_outbox()
    assert f"{span.get_span_context().trace_id:032x}" in headers["traceparent"]


def test_a_new_unit_of_work_has_no_message_in_hand(adapter):
    with adapter.new_uow() as uow:
        uow.handling(command())
    with adapter.new_uow() as uow:
        assert uow.message is None


# The dispatcher, on either adapter.


def _decoded(envelope: Envelope) -> Decoded:
    return Decoded(envelope=envelope, event=payment.CapturePayment(**envelope.payload))


def _capturing(calls: list[str]) -> Callable[[UnitOfWork, payment.CapturePayment], None]:
    def capture(uow: UnitOfWork, message: payment.CapturePayment) -> None:
        calls.append(message.order_id)
        uow.emit(authorized(message.order_id))

    return capture


def test_the_dispatcher_applies_a_message_once_however_often_it_comes(adapter):
    calls: list[str] = []
    dispatch = Dispatcher(adapter.new_uow, {payment.CapturePayment: _capturing(calls)})
    message = _decoded(command("order-5"))
    dispatch(message)
    dispatch(message)
    assert calls == ["order-5"]
    [(_, envelope, _)] = adapter.committed_outbox()
    assert envelope.causation_id == str(message.envelope.event_id)


def test_the_dispatcher_leaves_alone_a_message_no_use_case_is_named_for(adapter):
    dispatch = Dispatcher(adapter.new_uow, {})
    message = _decoded(command())
    dispatch(message)
    with adapter.new_uow() as uow:
        assert uow.claim(message.envelope), "an ignored message is not claimed"
    assert adapter.committed_outbox() == []


def test_a_use_case_that_fails_leaves_no_trace_so_the_retry_applies_it(adapter):
    calls: list[str] = []
    failing = {"left": 1}

    def flaky(uow: UnitOfWork, message: payment.CapturePayment) -> None:
        uow.emit(authorized(message.order_id))
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("the effect failed half way")
        calls.append(message.order_id)

    dispatch = Dispatcher(adapter.new_uow, {payment.CapturePayment: flaky})
    message = _decoded(command("order-6"))
    with pytest.raises(RuntimeError):
        dispatch(message)
    assert adapter.committed_outbox() == []
    dispatch(message)
    assert calls == ["order-6"]
    assert len(adapter.committed_outbox()) == 1


def test_a_batch_applies_each_message_caused_by_itself_and_commits_them_together(adapter):
    calls: list[str] = []
    dispatch = Dispatcher(adapter.new_uow, {payment.CapturePayment: _capturing(calls)})
    messages = [_decoded(command(f"order-{n}")) for n in range(3)]
    with dispatch.batch() as batch:
        for message in messages:
            batch.apply(message)
        assert adapter.committed_outbox() == [], "nothing is committed before the batch is"
        batch.commit()
    assert calls == ["order-0", "order-1", "order-2"]
    causes = [envelope.causation_id for _, envelope, _ in adapter.committed_outbox()]
    assert causes == [str(message.envelope.event_id) for message in messages]


def test_a_batch_claims_a_message_once_even_when_it_comes_twice_in_it(adapter):
    calls: list[str] = []
    dispatch = Dispatcher(adapter.new_uow, {payment.CapturePayment: _capturing(calls)})
    message = _decoded(command("order-8"))
    with dispatch.batch() as batch:
        batch.apply(message)
        batch.apply(message)
        batch.commit()
    assert calls == ["order-8"]
    assert len(adapter.committed_outbox()) == 1


def test_a_batch_left_without_commit_leaves_none_of_its_messages_applied(adapter):
    calls: list[str] = []
    dispatch = Dispatcher(adapter.new_uow, {payment.CapturePayment: _capturing(calls)})
    messages = [_decoded(command(f"order-{n}")) for n in range(2)]
    with dispatch.batch() as batch:
        for message in messages:
            batch.apply(message)
    assert adapter.committed_outbox() == []
    for message in messages:
        dispatch(message)
    assert len(adapter.committed_outbox()) == 2, "each is applied when it comes again"
