"""The order service's unit of work, one spec for both adapters (in memory and PostgreSQL):
what commits is seen by the next unit of work and what does not leaves no trace (state,
emitted events, inbox claims, after-commit callbacks); emitted events are caused by the
message in hand; and, through the shared dispatcher and the service's use-case table, a
message is applied once."""

from __future__ import annotations

import uuid

import pytest

from contracts import inventory, orders
from eventing.envelope import Envelope, utc_now
from eventing.registry import Decoded, Event, envelope_for
from order_service.deployable import USE_CASES
from order_service.domain import LineItem, Order, OrderStatus
from sagas.definitions import checkout_saga
from sagas.framework.engine import SagaEngine, SagaInstance
from servicekit.dispatch import Dispatcher
from tests.contract.order_adapters import (  # noqa: F401 (the fixtures)
    OrderAdapter,
    adapter_fixture,
    fresh_id,
    order_database_fixture,
)
from tests.support.order_messages import product_created


def new_order() -> Order:
    return Order(
        order_id=fresh_id("o"),
        customer_id="c-1",
        payment_method="tok_visa",
        items=(LineItem("MUG-1", 1, 1200),),
    )


def add(adapter: OrderAdapter, order: Order) -> None:
    with adapter.unit_of_work() as uow:
        uow.orders.add(order)
        uow.commit()


def status_of(adapter: OrderAdapter, order_id: str) -> OrderStatus | None:
    with adapter.unit_of_work() as uow:
        order = uow.orders.get(order_id)
        return None if order is None else order.status


def emitted_for(adapter: OrderAdapter, aggregate_id: str) -> list[Envelope]:
    return [e.envelope for e in adapter.emitted() if e.envelope.aggregate_id == aggregate_id]


def message(event: Event, correlation_id: str = "saga-1") -> Decoded:
    return Decoded(envelope_for(event, correlation_id=correlation_id), event)


def checkout_of(order: Order) -> SagaInstance:
    """The order's checkout saga, just started."""
    saga, _ = SagaEngine(checkout_saga()).start(
        str(uuid.uuid4()), orders.OrderCreated(**created(order)), utc_now()
    )
    return saga


class TestTransactions:
    def test_what_a_committed_unit_of_work_did_the_next_one_sees(self, adapter):
        order, sku, customer = new_order(), fresh_id("SKU"), fresh_id("c")
        with adapter.unit_of_work() as uow:
            uow.orders.add(order)
            uow.idempotency_keys.claim(order.order_id, "fp", order.order_id)
            uow.catalogue.apply(sku, 1, {"name": "Mug", "price_cents": 1, "deleted": False})
            uow.sagas.add(checkout_of(order))
            uow.rate_limits.take(customer, 1, 100_000_000)
            uow.emit(orders.OrderCreated(**created(order)))
            uow.commit()
        with adapter.unit_of_work() as uow:
            assert uow.orders.get(order.order_id) is not None
            assert uow.idempotency_keys.claim(order.order_id, "fp", "other") is not None
            assert sku in uow.catalogue.entries([sku])
            assert uow.sagas.find("checkout", order.order_id) is not None
            assert uow.rate_limits.take(customer, 1, 100_000_000) is not None
        assert [e.type for e in emitted_for(adapter, order.order_id)] == ["OrderCreated"]

    def test_a_unit_of_work_left_without_commit_leaves_no_trace(self, adapter):
        order, sku, customer = new_order(), fresh_id("SKU"), fresh_id("c")
        with adapter.unit_of_work() as uow:
            uow.orders.add(order)
            uow.idempotency_keys.claim(order.order_id, "fp", order.order_id)
            uow.catalogue.apply(sku, 1, {"name": "Mug", "price_cents": 1, "deleted": False})
            uow.sagas.add(checkout_of(order))
            uow.rate_limits.take(customer, 1, 100_000_000)
            uow.emit(orders.OrderCreated(**created(order)))
        with adapter.unit_of_work() as uow:
            assert uow.orders.get(order.order_id) is None
            assert uow.idempotency_keys.claim(order.order_id, "fp", order.order_id) is None
            assert uow.catalogue.entries([sku]) == {}
            assert uow.sagas.find("checkout", order.order_id) is None
            assert uow.rate_limits.take(customer, 1, 100_000_000) is None
        assert emitted_for(adapter, order.order_id) == []

    def test_a_failure_inside_the_unit_of_work_rolls_it_back(self, adapter):
        order = new_order()
        with pytest.raises(RuntimeError), adapter.unit_of_work() as uow:
            uow.orders.add(order)
            uow.emit(orders.OrderCreated(**created(order)))
            raise RuntimeError("the use case failed")
        assert status_of(adapter, order.order_id) is None
        assert emitted_for(adapter, order.order_id) == []

    def test_after_commit_callbacks_run_once_it_commits_and_never_if_it_does_not(self, adapter):
        ran: list[str] = []
        with adapter.unit_of_work() as uow:
            uow.after_commit(lambda: ran.append("rolled back"))
        with adapter.unit_of_work() as uow:
            uow.after_commit(lambda: ran.append("committed"))
            assert ran == [], "not before the commit"
            uow.commit()
        assert ran == ["committed"]


def created(order: Order) -> dict:
    return {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "payment_method": order.payment_method,
        "total_cents": order.total_cents,
        "items": [
            {"sku": i.sku, "quantity": i.quantity, "unit_price_cents": i.unit_price_cents}
            for i in order.items
        ],
    }


class TestEmitting:
    def test_an_event_emitted_while_handling_a_message_is_caused_by_it(self, adapter):
        order = new_order()
        command = envelope_for(orders.ApproveOrder(order_id=order.order_id), correlation_id="s-9")
        with adapter.unit_of_work() as uow:
            uow.handling(command)
            uow.emit(orders.OrderApproved(order_id=order.order_id))
            uow.commit()
        [approved] = emitted_for(adapter, order.order_id)
        assert (approved.causation_id, approved.correlation_id) == (str(command.event_id), "s-9")

    def test_an_event_emitted_outside_a_message_starts_a_correlation_of_its_own(self, adapter):
        order = new_order()
        with adapter.unit_of_work() as uow:
            uow.emit(orders.OrderCreated(**created(order)))
            uow.commit()
        [event] = emitted_for(adapter, order.order_id)
        assert event.causation_id is None
        uuid.UUID(event.correlation_id)

    def test_emitted_events_keep_their_order_and_logical_topic(self, adapter):
        order = new_order()
        with adapter.unit_of_work() as uow:
            uow.emit(orders.OrderCreated(**created(order)))
            uow.emit(orders.OrderCancellationRequested(order_id=order.order_id))
            uow.commit()
        found = [e for e in adapter.emitted() if e.envelope.aggregate_id == order.order_id]
        assert [(e.topic, e.envelope.type) for e in found] == [
            (orders.OrderCreated.topic, "OrderCreated"),
            (orders.OrderCancellationRequested.topic, "OrderCancellationRequested"),
        ]


class TestInbox:
    def test_a_message_is_claimed_once(self, adapter):
        command = envelope_for(orders.ApproveOrder(order_id=fresh_id("o")))
        with adapter.unit_of_work() as uow:
            assert uow.claim(command)
            assert not uow.claim(command), "claimed twice in one unit of work"
            uow.commit()
        with adapter.unit_of_work() as uow:
            assert not uow.claim(command)

    def test_a_claim_that_was_not_committed_does_not_count(self, adapter):
        command = envelope_for(orders.ApproveOrder(order_id=fresh_id("o")))
        with adapter.unit_of_work() as uow:
            assert uow.claim(command)
        with adapter.unit_of_work() as uow:
            assert uow.claim(command)


class TestDispatching:
    """The shared `Dispatcher` over the order service's use-case table, on each adapter."""

    def dispatcher(self, adapter: OrderAdapter) -> Dispatcher:
        return Dispatcher(adapter.unit_of_work, USE_CASES)

    def test_a_redelivered_message_is_applied_once(self, adapter):
        sku = fresh_id("SKU")
        created_product = message(product_created(sku))
        for _ in range(3):
            self.dispatcher(adapter)(created_product)
        with adapter.unit_of_work() as uow:
            assert uow.catalogue.entries([sku])[sku].name == f"Product {sku}"
            assert not uow.claim(created_product.envelope), "claimed when first applied"

    def test_another_services_message_on_a_shared_topic_is_left_alone(self, adapter):
        order = new_order()
        created_elsewhere = message(orders.OrderCreated(**created(order)))
        self.dispatcher(adapter)(created_elsewhere)
        with adapter.unit_of_work() as uow:
            assert uow.claim(created_elsewhere.envelope), "not claimed: not applied"
        assert status_of(adapter, order.order_id) is None

    def test_a_catalogue_event_is_applied_through_its_use_case(self, adapter):
        sku = fresh_id("SKU")
        self.dispatcher(adapter)(message(inventory.ProductDeleted(sku=sku, version=3)))
        with adapter.unit_of_work() as uow:
            assert uow.catalogue.entries([sku])[sku].deleted
