"""The checkout saga against fake services that keep one outcome per order and repeat it, as
the real ones do, over a fake network that delays, reorders and duplicates every message and
never loses one. Whatever the interleaving of replies, timeouts, resends (each step retried up
to its attempts, compensations and later steps until answered) and operator retries, the saga
ends, and ends as the contract says: an approved order has its payment captured and
its stock committed; a rejected one holds no money and no stock."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from contracts import inventory, orders, payment
from eventing.registry import Event
from sagas.definitions import checkout_saga
from sagas.framework.engine import NothingToRetry, SagaEngine, SagaState

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ORDER = "order-1"
STEP_ATTEMPTS = 3


@dataclass
class FakeServices:
    """Inventory, payments and orders for one order, reduced to their recorded outcome.

    Commands a real service would refuse (dead-letter) are answered with nothing."""

    in_stock: bool
    card: str  # "ok", "declined" or "no_answer" (the processor never answers)
    stock: str | None = None  # RESERVED, FAILED, RELEASED, COMMITTED
    payment: str | None = None  # PENDING, AUTHORIZED, DECLINED, VOIDED, CAPTURED
    order: str = "PENDING"  # APPROVED, REJECTED
    captures: int = 0

    def handle(self, command: Event) -> list[Event]:
        match command:
            case inventory.ReserveStock():
                return self._reserve()
            case inventory.ReleaseStock():
                if self.stock == "COMMITTED":
                    return []
                self.stock = "RELEASED"
                return [inventory.StockReleased(order_id=ORDER)]
            case inventory.CommitStock():
                if self.stock not in ("RESERVED", "COMMITTED"):
                    return []
                self.stock = "COMMITTED"
                return [inventory.StockCommitted(order_id=ORDER)]
            case payment.AuthorizePayment():
                return self._authorize()
            case payment.VoidPayment():
                if self.payment == "CAPTURED":
                    return []
                if self.payment in (None, "PENDING", "AUTHORIZED"):
                    self.payment = "VOIDED"
                return [payment.PaymentVoided(order_id=ORDER, payment_id="p1", amount_cents=0)]
            case payment.CapturePayment():
                if self.payment not in ("AUTHORIZED", "CAPTURED"):
                    return []
                if self.payment == "AUTHORIZED":
                    self.captures += 1
                self.payment = "CAPTURED"
                return [payment.PaymentCaptured(order_id=ORDER, payment_id="p1", amount_cents=1)]
            case orders.ApproveOrder():
                if self.order == "REJECTED":
                    return []
                self.order = "APPROVED"
                return [orders.OrderApproved(order_id=ORDER)]
            case orders.RejectOrder():
                if self.order == "APPROVED":
                    return []
                self.order = "REJECTED"
                return [orders.OrderRejected(order_id=ORDER, reason=command.reason)]
        raise AssertionError(f"unexpected command {command}")

    def _reserve(self) -> list[Event]:
        if self.stock is None:
            self.stock = "RESERVED" if self.in_stock else "FAILED"
        match self.stock:
            case "RESERVED" | "COMMITTED":
                return [
                    inventory.StockReserved(order_id=ORDER, items=[{"sku": "S", "quantity": 1}])
                ]
            case "FAILED":
                return [
                    inventory.StockReservationFailed(
                        order_id=ORDER, reason="OUT_OF_STOCK", skus=["S"]
                    )
                ]
        return [inventory.StockReleased(order_id=ORDER)]

    def _authorize(self) -> list[Event]:
        if self.payment is None:
            self.payment = {"ok": "AUTHORIZED", "declined": "DECLINED", "no_answer": "PENDING"}[
                self.card
            ]
        common = {"order_id": ORDER, "payment_id": "p1", "amount_cents": 1}
        match self.payment:
            case "AUTHORIZED" | "CAPTURED":
                return [payment.PaymentAuthorized(**common)]
            case "DECLINED":
                return [payment.PaymentDeclined(**common, reason="PAYMENT_DECLINED")]
            case "VOIDED":
                return [payment.PaymentVoided(**common)]
        return []


@dataclass
class FakeNetwork:
    """Messages in flight: delivered in any order, any number of times, never lost."""

    rng: random.Random
    commands: list[Event] = field(default_factory=list)
    replies: list[Event] = field(default_factory=list)

    def take(self, queue: list[Event]) -> Event:
        message = queue[self.rng.randrange(len(queue))]
        if self.rng.random() > 0.15:  # sometimes delivered again later
            queue.remove(message)
        return message

    @property
    def empty(self) -> bool:
        return not self.commands and not self.replies


def run_one(seed: int, in_stock: bool, card: str) -> tuple[FakeServices, list[str]]:
    """One checkout, its messages interleaved as `seed` decides, until the saga has ended and
    every message in flight was delivered; returns the services' state and the commands sent.
    Timeouts fire whenever nothing is delivered; a parked saga is sometimes retried by an
    operator, but must never need one: no message is lost, so an answer is on its way."""
    rng = random.Random(seed)
    engine = SagaEngine(
        checkout_saga(
            reply_timeout_s=5,
            payment_timeout_s=5,
            max_compensation_attempts=2,
            step_attempts=STEP_ATTEMPTS,
        )
    )
    services = FakeServices(in_stock=in_stock, card=card)
    network = FakeNetwork(rng)
    now = T0
    saga, first = engine.start(
        "saga-1",
        orders.OrderCreated(
            order_id=ORDER,
            customer_id="c1",
            payment_method="tok",
            total_cents=1,
            items=[{"sku": "S", "quantity": 1, "unit_price_cents": 1}],
        ),
        now,
    )
    network.commands += first
    sent = [type(c).__name__ for c in first]
    for _ in range(5000):
        if network.empty and saga.state in (
            SagaState.COMPLETED,
            SagaState.ABORTED,
            SagaState.COMPENSATION_FAILED,  # nothing in flight can move it: stuck for good
        ):
            break
        choice = rng.random()
        commands: list[Event] = []
        if choice < 0.4 and network.commands:
            network.replies += services.handle(network.take(network.commands))
        elif choice < 0.8 and network.replies:
            now += timedelta(milliseconds=rng.randrange(0, 3000))
            commands = engine.on_reply(saga, network.take(network.replies), now)
        elif saga.deadline is not None:
            now = max(now, saga.deadline)
            commands = engine.on_timeout(saga, now)
        elif saga.state is SagaState.COMPENSATION_FAILED and choice > 0.97:
            commands = engine.retry(saga, now)  # an operator, told by the alert
        network.commands += commands
        sent += [type(c).__name__ for c in commands]
    assert saga.state in (SagaState.COMPLETED, SagaState.ABORTED), (saga.state, saga.log)
    with pytest.raises(NothingToRetry):
        engine.retry(saga, now)
    return services, sent


@pytest.mark.parametrize("card", ["ok", "declined", "no_answer"])
@pytest.mark.parametrize("in_stock", [True, False])
def test_every_interleaving_ends_as_the_contract_says(in_stock, card):
    outcomes = set()
    resent = False
    for seed in range(150):
        services, sent = run_one(seed, in_stock, card)
        outcomes.add(services.order)
        assert not {"ApproveOrder", "RejectOrder"} <= set(sent), (seed, sent)
        if services.order == "APPROVED":
            assert (services.payment, services.captures, services.stock) == (
                "CAPTURED",
                1,
                "COMMITTED",
            ), seed
        else:
            assert services.order == "REJECTED", seed
            assert services.payment in (None, "DECLINED", "VOIDED"), (seed, services.payment)
            assert services.stock in ("FAILED", "RELEASED"), (seed, services.stock)
            assert "CapturePayment" not in sent, seed
        for command in ("ReserveStock", "AuthorizePayment"):
            assert sent.count(command) <= STEP_ATTEMPTS, (seed, sent)
        if card == "no_answer" and "AuthorizePayment" in sent:
            assert sent.count("AuthorizePayment") == STEP_ATTEMPTS, (seed, sent)
        resent |= sent.count("ReserveStock") > 1
    assert resent, "some interleavings resend the reservation"
    if in_stock and card == "ok":
        assert outcomes == {"APPROVED", "REJECTED"}, "timeouts reject some, the rest go through"
    else:
        assert outcomes == {"REJECTED"}
