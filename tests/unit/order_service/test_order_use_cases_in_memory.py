"""The order service's use cases on the in-memory adapter (no server): placing an order and
its idempotency key, the sagas' commands moving it and the events they answer with (caused
by the command, so the reply finds its saga), redeliveries changing nothing, and the
catalogue and saga read models following their events' versions. The same rules hold on
PostgreSQL: tests/contract proves the adapters alike, tests/integration/order_service the
whole service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts import inventory, orders
from eventing import topics
from eventing.envelope import Envelope
from eventing.registry import Decoded, Event, envelope_for
from order_service import services
from order_service.deployable import USE_CASES
from order_service.domain import (
    IdempotencyConflict,
    InvalidTransition,
    LineItem,
    Order,
    OrderNotFound,
    OrderStatus,
    UnknownProducts,
)
from order_service.fakes import InMemoryOrderService
from sagas.config import Settings as SagaSettings
from sagas.deployable import build_orchestrator
from sagas.framework.orchestrator import Orchestrator
from servicekit.dispatch import Dispatcher
from tests.support.order_messages import run_local_step


@pytest.fixture
def shop() -> InMemoryOrderService:
    return InMemoryOrderService()


def deliver(shop: InMemoryOrderService, event: Event, correlation_id: str = "saga-1") -> Envelope:
    """Hand `event` to the worker's dispatcher as a message from Kafka; its envelope back."""
    envelope = envelope_for(event, correlation_id=correlation_id)
    Dispatcher(shop.unit_of_work, USE_CASES)(Decoded(envelope, event))
    return envelope


def product(sku: str, version: int = 1, price: int = 1200, kind=inventory.ProductCreated, **fields):
    return kind(
        **fields,
        sku=sku,
        version=version,
        name=f"Product {sku}",
        description="",
        category="k",
        price_cents=price,
        attributes={},
        stock_on_hand=5,
        stock_reserved=0,
        stock_available=5,
    )


def request(*items: tuple[str, int], customer: str = "c-1", method: str = "tok_visa") -> dict:
    return {
        "customer_id": customer,
        "payment_method": method,
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
    }


def place(shop: InMemoryOrderService, key: str, body: dict) -> tuple[Order, bool]:
    with shop.unit_of_work() as uow:
        placed = services.place_order(uow, key, body, sagas_of(shop).start)
        uow.commit()
    return placed


def sagas_of(shop: InMemoryOrderService) -> Orchestrator:
    """The shop's orchestrator on the fake: what the order API starts sagas with."""
    return build_orchestrator(SagaSettings(), shop.unit_of_work)


def order_of(shop: InMemoryOrderService, order_id: str) -> Order:
    with shop.unit_of_work() as uow:
        return services.get_order(uow, order_id)


def emitted(shop: InMemoryOrderService, order_id: str) -> list[Envelope]:
    """What the order service announced of the order (its sagas' commands left out)."""
    return [
        item.envelope
        for item in shop.messages.outbox
        if item.envelope.aggregate_id == order_id and item.topic == topics.ORDERS
    ]


def cancel(shop: InMemoryOrderService, order_id: str, customer: str = "c-1") -> Order:
    with shop.unit_of_work() as uow:
        order = services.request_cancellation(uow, order_id, customer, sagas_of(shop).start)
        uow.commit()
    return order


@pytest.fixture
def catalogue(shop):
    deliver(shop, product("MUG-1", price=1200))
    deliver(shop, product("PLATE-1", price=750))


@pytest.fixture
def pending(shop, catalogue) -> str:
    order, _ = place(shop, "key-pending", request(("MUG-1", 1)))
    return order.order_id


@pytest.fixture
def approved(shop, pending) -> str:
    run_local_step(shop.unit_of_work, services.approve_order, orders.ApproveOrder(order_id=pending))
    return pending


class TestPlacingAnOrder:
    def test_it_is_priced_from_the_catalogue_pending_and_announced(self, shop, catalogue):
        order, created = place(shop, "k-1", request(("MUG-1", 2), ("PLATE-1", 1)))
        assert created
        stored = order_of(shop, order.order_id)
        assert (stored.status, stored.total_cents) == (OrderStatus.PENDING, 3150)
        assert stored.items == (LineItem("MUG-1", 2, 1200), LineItem("PLATE-1", 1, 750))
        [announced] = emitted(shop, order.order_id)
        assert announced.type == "OrderCreated"
        assert announced.payload["total_cents"] == 3150
        assert announced.payload["items"] == [
            {"sku": "MUG-1", "quantity": 2, "unit_price_cents": 1200},
            {"sku": "PLATE-1", "quantity": 1, "unit_price_cents": 750},
        ]
        assert announced.causation_id is None, "a request, not a message, caused it"
        with shop.unit_of_work() as uow:
            saga = uow.sagas.find("checkout", order.order_id)
        assert saga is not None and saga.current_step == "reserve_stock", "started with it"

    def test_the_same_key_and_request_give_back_the_first_order_and_announce_nothing_more(
        self, shop, catalogue
    ):
        first, created = place(shop, "k-1", request(("MUG-1", 1)))
        reordered = {
            "items": [{"quantity": 1, "sku": "MUG-1"}],
            "payment_method": "tok_visa",
            "customer_id": "c-1",
        }
        again, created_again = place(shop, "k-1", reordered)
        assert (created, created_again) == (True, False)
        assert again == order_of(shop, first.order_id)
        types = [e.envelope.type for e in shop.messages.outbox]
        assert types == ["OrderCreated", "ReserveStock"], "one order, one checkout saga"

    def test_the_same_key_with_another_request_is_a_conflict_that_changes_nothing(
        self, shop, catalogue
    ):
        place(shop, "k-1", request(("MUG-1", 1)))
        before = list(shop.messages.outbox)
        with pytest.raises(IdempotencyConflict):
            place(shop, "k-1", request(("MUG-1", 2)))
        assert shop.messages.outbox == before
        with shop.unit_of_work() as uow:
            assert uow.orders.for_customer("c-1", 1, 20)[1] == 1

    def test_another_key_is_another_order(self, shop, catalogue):
        first, _ = place(shop, "k-1", request(("MUG-1", 1)))
        second, created = place(shop, "k-2", request(("MUG-1", 1)))
        assert created and second.order_id != first.order_id

    def test_unknown_and_deleted_products_are_refused_by_position(self, shop, catalogue):
        deliver(shop, inventory.ProductDeleted(sku="PLATE-1", version=2))
        with pytest.raises(UnknownProducts) as refused:
            place(shop, "k-1", request(("MUG-1", 1), ("NOPE-1", 1), ("PLATE-1", 1)))
        assert (refused.value.positions, refused.value.skus) == ([1, 2], ["NOPE-1", "PLATE-1"])
        assert shop.messages.outbox == [], "nothing announced"


class TestSagaSteps:
    """Approving, rejecting and completing a cancellation: the sagas' local steps."""

    def test_approving_moves_the_order_announces_it_and_answers_the_saga(self, shop, pending):
        answer, in_hand = run_local_step(
            shop.unit_of_work,
            services.approve_order,
            orders.ApproveOrder(order_id=pending),
            "saga-7",
        )
        assert order_of(shop, pending).status is OrderStatus.APPROVED
        assert answer == orders.OrderApproved(order_id=pending)
        announced = emitted(shop, pending)[-1]
        assert announced.type == "OrderApproved"
        assert (announced.causation_id, announced.correlation_id) == (
            str(in_hand.event_id),
            "saga-7",
        )

    def test_a_step_applied_again_changes_nothing_announces_once_and_answers_alike(
        self, shop, approved
    ):
        before = order_of(shop, approved)
        answer, _ = run_local_step(
            shop.unit_of_work, services.approve_order, orders.ApproveOrder(order_id=approved)
        )
        assert answer == orders.OrderApproved(order_id=approved)
        assert order_of(shop, approved) == before
        assert [e.type for e in emitted(shop, approved)] == ["OrderCreated", "OrderApproved"]

    @pytest.mark.parametrize(
        "command",
        [
            lambda order_id: orders.RejectOrder(order_id=order_id, reason="OUT_OF_STOCK"),
            lambda order_id: orders.RejectOrderV2(
                order_id=order_id,
                rejection=orders.Rejection(code="OUT_OF_STOCK", detail="none left"),
            ),
        ],
        ids=["v1", "v2"],
    )
    def test_a_rejection_in_either_version_records_its_reason(self, shop, pending, command):
        answer, _ = run_local_step(shop.unit_of_work, services.reject_order, command(pending))
        order = order_of(shop, pending)
        assert (order.status, order.rejection_reason) == (OrderStatus.REJECTED, "OUT_OF_STOCK")
        assert answer == orders.OrderRejected(order_id=pending, reason="OUT_OF_STOCK")
        announced = emitted(shop, pending)[-1]
        assert (announced.type, announced.payload["reason"]) == ("OrderRejected", "OUT_OF_STOCK")

    def test_a_step_the_order_cannot_take_is_refused_and_leaves_no_trace(self, shop, pending):
        reject = orders.RejectOrder(order_id=pending, reason="TIMEOUT")
        run_local_step(shop.unit_of_work, services.reject_order, reject)
        with pytest.raises(InvalidTransition):
            run_local_step(
                shop.unit_of_work, services.approve_order, orders.ApproveOrder(order_id=pending)
            )
        assert order_of(shop, pending).status is OrderStatus.REJECTED
        assert [e.type for e in emitted(shop, pending)] == ["OrderCreated", "OrderRejected"]

    def test_a_step_for_an_unknown_order_is_refused(self, shop):
        with pytest.raises(OrderNotFound):
            run_local_step(
                shop.unit_of_work,
                services.approve_order,
                orders.ApproveOrder(order_id="no-such-order"),
            )

    def test_another_services_message_is_left_alone_and_unclaimed(self, shop, pending):
        claimed = set(shop.messages.inbox)
        deliver(shop, orders.OrderApproved(order_id=pending))
        assert order_of(shop, pending).status is OrderStatus.PENDING
        assert shop.messages.inbox == claimed


class TestCancelling:
    def test_an_approved_order_is_cancelled_once_the_saga_completes(self, shop, approved):
        asked = cancel(shop, approved)
        assert (asked.status, asked.cancellation_requested) == (OrderStatus.APPROVED, True)
        assert cancel(shop, approved) == order_of(shop, approved), "asking again changes nothing"
        _, in_hand = run_local_step(
            shop.unit_of_work,
            services.complete_cancellation,
            orders.CompleteCancellation(order_id=approved),
        )
        assert order_of(shop, approved).status is OrderStatus.CANCELLED
        assert [e.type for e in emitted(shop, approved)] == [
            "OrderCreated",
            "OrderApproved",
            "OrderCancellationRequested",
            "OrderCancelled",
        ]
        assert emitted(shop, approved)[-1].causation_id == str(in_hand.event_id)
        with pytest.raises(InvalidTransition):
            cancel(shop, approved)

    def test_a_pending_order_cannot_be_cancelled(self, shop, pending):
        with pytest.raises(InvalidTransition):
            cancel(shop, pending)
        assert [e.type for e in emitted(shop, pending)] == ["OrderCreated"]

    def test_another_customers_order_is_as_unknown_as_a_missing_one(self, shop, approved):
        with pytest.raises(OrderNotFound):
            cancel(shop, approved, customer="c-2")
        assert not order_of(shop, approved).cancellation_requested

    def test_completing_a_cancellation_nobody_asked_for_is_refused(self, shop, approved):
        with pytest.raises(InvalidTransition):
            run_local_step(
                shop.unit_of_work,
                services.complete_cancellation,
                orders.CompleteCancellation(order_id=approved),
            )
        assert order_of(shop, approved).status is OrderStatus.APPROVED


def entry_price(shop: InMemoryOrderService, sku: str) -> int | None:
    with shop.unit_of_work() as uow:
        entry = uow.catalogue.entries([sku]).get(sku)
    return None if entry is None or entry.deleted else entry.price_cents


class TestCatalogue:
    def test_a_newer_version_applies_and_an_older_one_arriving_late_does_not(self, shop):
        deliver(shop, product("CUP-1", version=1, price=100))
        deliver(shop, product("CUP-1", version=3, price=300, kind=inventory.ProductUpdated))
        deliver(shop, product("CUP-1", version=2, price=200, kind=inventory.ProductUpdated))
        assert entry_price(shop, "CUP-1") == 300

    def test_a_stock_change_carries_the_products_state_too(self, shop):
        deliver(shop, product("CUP-1", version=1, price=100))
        deliver(
            shop,
            product("CUP-1", version=2, price=150, kind=inventory.StockChanged, reason="RESERVED"),
        )
        assert entry_price(shop, "CUP-1") == 150

    def test_a_deleted_product_stays_deleted_when_an_older_event_arrives_late(self, shop):
        deliver(shop, product("CUP-2", version=1))
        deliver(shop, inventory.ProductDeleted(sku="CUP-2", version=3))
        deliver(shop, product("CUP-2", version=2, kind=inventory.ProductUpdated))
        assert entry_price(shop, "CUP-2") is None
        deliver(shop, product("CUP-2", version=4, price=99, kind=inventory.ProductUpdated))
        assert entry_price(shop, "CUP-2") == 99, "a newer version brings it back"


class TestRateLimits:
    def test_a_new_window_counts_from_one_again(self):
        now = [datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)]
        shop = InMemoryOrderService(clock=lambda: now[0])

        def take() -> float | None:
            with shop.unit_of_work() as uow:
                wait_s = uow.rate_limits.take("c-1", 2, 60)
                uow.commit()
            return wait_s

        assert [take(), take()] == [None, None]
        now[0] += timedelta(seconds=15)
        assert take() == 45.0, "the window started on the minute"
        now[0] += timedelta(seconds=45)
        assert take() is None
