"""The orchestrator's local steps, on the fake order service (no server): the checkout saga in
the order service's own unit of work approves or rejects the order in the transaction that
applies the saga's last reply, with no command on a topic and no reply awaited from one."""

from __future__ import annotations

import pytest

from eventing.envelope import Envelope
from eventing.registry import Decoded, Event, envelope_for
from order_service.domain import LineItem, Order, OrderStatus
from order_service.fakes import InMemoryOrderService
from sagas.definitions import cancellation_saga, checkout_saga
from sagas.deployable import LOCAL_STEPS
from sagas.framework.engine import SagaInstance, SagaState
from sagas.framework.orchestrator import Orchestrator
from servicekit.dispatch import Dispatcher
from tests.unit.sagas import checkout_messages as m


class Shop:
    """The order service's fake with the shop's orchestrator on it."""

    def __init__(self) -> None:
        self.service = InMemoryOrderService()
        self.orchestrator = Orchestrator(
            [checkout_saga(), cancellation_saga()],
            uow_factory=self.service.unit_of_work,
            local_steps=LOCAL_STEPS,
        )
        self.dispatch = Dispatcher(self.service.unit_of_work, self.orchestrator.use_cases())
        with self.service.unit_of_work() as uow:
            uow.orders.add(Order(m.ORDER, "c1", "tok_visa", (LineItem("SKU-1", 2, 999),)))
            uow.commit()

    def deliver(self, event: Event) -> None:
        """`event` consumed, as the answer to the saga's last command."""
        commands = self.outbox(lambda e: e.correlation_id is not None)
        causation = commands[-1] if commands else None
        envelope = envelope_for(event, causation=causation)
        self.dispatch(Decoded(envelope, event))

    def outbox(self, keep=lambda envelope: True) -> list[Envelope]:
        return [e.envelope for e in self.service.messages.outbox if keep(e.envelope)]

    def types(self) -> list[str]:
        return [envelope.type for envelope in self.outbox()]

    def saga(self) -> SagaInstance:
        with self.service.unit_of_work() as uow:
            saga = uow.sagas.find("checkout", m.ORDER)
        assert saga is not None
        return saga

    def order(self) -> Order:
        with self.service.unit_of_work() as uow:
            order = uow.orders.get(m.ORDER)
        assert order is not None
        return order


def test_the_last_reply_approves_the_order_in_its_own_transaction():
    shop = Shop()
    for event in (m.created("tok_visa"), m.reserved(), m.authorized(), m.captured()):
        shop.deliver(event)
    assert shop.order().status is OrderStatus.PENDING

    shop.deliver(m.committed())

    assert shop.order().status is OrderStatus.APPROVED
    assert shop.saga().state is SagaState.COMPLETED
    assert shop.types() == [
        "ReserveStock",
        "AuthorizePayment",
        "CapturePayment",
        "CommitStock",
        "OrderApproved",
    ], "no ApproveOrder command: the step ran here"
    [approved] = shop.outbox(lambda e: e.type == "OrderApproved")
    assert approved.correlation_id == shop.saga().saga_id
    steps = [(e.step, e.status.value) for e in shop.saga().log if e.step == "approve_order"]
    assert steps == [("approve_order", "STARTED"), ("approve_order", "SUCCEEDED")]


def test_a_declined_payment_rejects_the_order_once_the_stock_is_released():
    shop = Shop()
    for event in (m.created("tok_visa"), m.reserved(), m.declined()):
        shop.deliver(event)
    assert shop.order().status is OrderStatus.PENDING, "the stock is not released yet"

    shop.deliver(m.released())

    order = shop.order()
    assert (order.status, order.rejection_reason) == (OrderStatus.REJECTED, "PAYMENT_DECLINED")
    assert shop.saga().state is SagaState.ABORTED
    assert shop.types()[-1] == "OrderRejected"


def test_an_order_event_on_the_orders_topic_is_no_reply_the_saga_waits_for():
    shop = Shop()
    shop.deliver(m.created("tok_visa"))
    shop.deliver(m.approved())
    assert [e.status.value for e in shop.saga().log] == ["STARTED"], "nothing recorded"


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        ("reserve_stock", "its first step cannot be local"),
        ("authorize_payment", "only a retriable step can be local"),
        ("ship_it", "local steps of no saga: ship_it"),
    ],
)
def test_only_a_later_retriable_step_of_a_known_saga_can_be_local(step, reason):
    with pytest.raises(ValueError, match=reason):
        Orchestrator(
            [checkout_saga()],
            uow_factory=InMemoryOrderService().unit_of_work,
            local_steps={step: LOCAL_STEPS["approve_order"]},
        )
