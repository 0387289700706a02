"""Inventory's worker on the real Kafka: commands produced to the namespaced
inventory.commands are consumed, applied once, and answered through the outbox relay on
inventory.reservations, with product state on inventory.products."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from confluent_kafka import Consumer

from contracts import inventory as messages
from eventing import topics
from eventing.config import KafkaSettings
from eventing.envelope import Envelope
from eventing.held import HoldStore
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import Decoded, envelope_for, registry
from eventing.topics import dead_letter_topic
from eventing.tracing import kafka_headers_to_dict
from inventory_service import orm
from testkit.conditions import wait_for
from tests.integration.inventory_service.support import new_product, stock
from tests.support.kafka_helpers import replies_through_kafka

pytestmark = pytest.mark.integration


class TopicReader:
    """Everything on one topic from its beginning, read in the background."""

    def __init__(self, settings: KafkaSettings, topic: str):
        self.consumer = Consumer(
            {
                **settings.client_config(),
                "group.id": f"reader-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self.consumer.subscribe([settings.qualify(topic)])
        self.messages: list = []

    def poll_until(self, condition: Callable[[list], bool], timeout_s: float = 90.0) -> list:
        deadline = time.monotonic() + timeout_s
        while not condition(self.messages):
            assert time.monotonic() < deadline, f"not seen within {timeout_s}s: {self.messages}"
            message = self.consumer.poll(0.2)
            if message is not None and message.error() is None:
                self.messages.append(message)
        return self.messages

    def settle(self, seconds: float = 1.5) -> list:
        """Keep reading for a while, so that an unexpected extra message is seen too."""
        until = time.monotonic() + seconds
        return self.poll_until(lambda _: time.monotonic() >= until, timeout_s=seconds + 5)

    def decoded(self, aggregate_id: str) -> list[Decoded]:
        decoded = [registry.decode(message.value()) for message in self.messages]
        return [d for d in decoded if d.envelope.aggregate_id == aggregate_id]

    def close(self) -> None:
        self.consumer.close()


@contextmanager
def reading(settings: KafkaSettings, topic: str) -> Iterator[TopicReader]:
    reader = TopicReader(settings, topic)
    try:
        yield reader
    finally:
        reader.close()


@contextmanager
def running_worker(app) -> Iterator[None]:
    """The worker's consumer and outbox relay, in threads, stopped as SIGTERM would."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=task, args=(stop,), daemon=True) for task in app.tasks().values()
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        assert not any(thread.is_alive() for thread in threads), "the worker did not stop"


def send(settings: KafkaSettings, *envelopes: Envelope) -> None:
    KafkaPublisher(settings).publish(
        OutgoingMessage(
            settings.qualify(topics.INVENTORY_COMMANDS), envelope.key(), envelope.to_bytes()
        )
        for envelope in envelopes
    )


def new_order() -> str:
    return f"order-{uuid.uuid4().hex[:8]}"


def test_a_reserve_command_on_kafka_is_answered_on_kafka(app, client, shop_topics):
    new_product(client, sku="KAFKA-1", stock=2)
    order_id = new_order()
    request = messages.ReserveStock(order_id=order_id, items=[{"sku": "KAFKA-1", "quantity": 2}])
    envelope = envelope_for(request, correlation_id="saga-42")
    mine = replies_through_kafka(
        shop_topics, app.tasks(), envelope, topics.INVENTORY_COMMANDS, topics.RESERVATIONS
    )
    assert [type(d.event).__name__ for d in mine] == ["StockReserved"]
    assert mine[0].event.items[0].model_dump() == {"sku": "KAFKA-1", "quantity": 2}
    assert mine[0].envelope.correlation_id == "saga-42", "the reply answers the saga"
    assert mine[0].envelope.causation_id == str(envelope.event_id)
    assert stock(client, "KAFKA-1") == (2, 2)


def test_commands_delivered_twice_or_retried_are_applied_once_and_product_state_follows(
    app, client, shop_topics
):
    new_product(client, sku="KAFKA-2", stock=5)
    order_id = new_order()
    reserve = envelope_for(
        messages.ReserveStock(order_id=order_id, items=[{"sku": "KAFKA-2", "quantity": 3}]),
        correlation_id="saga-7",
    )
    retried = envelope_for(
        messages.ReserveStock(order_id=order_id, items=[{"sku": "KAFKA-2", "quantity": 3}]),
        correlation_id="saga-7",
    )
    commit = envelope_for(messages.CommitStock(order_id=order_id), correlation_id="saga-7")
    send(shop_topics, reserve, reserve, retried, commit, commit)
    with (
        reading(shop_topics, topics.RESERVATIONS) as reservations,
        reading(shop_topics, topics.PRODUCTS) as products,
        running_worker(app),
    ):
        reservations.poll_until(lambda _: len(reservations.decoded(order_id)) >= 3)
        reservations.settle()
        products.poll_until(lambda _: len(products.decoded("KAFKA-2")) >= 3)
        products.settle()
    assert [d.envelope.type for d in reservations.decoded(order_id)] == [
        "StockReserved",
        "StockReserved",
        "StockCommitted",
    ]
    states = [
        (d.envelope.type, d.event.version, d.event.stock_on_hand, d.event.stock_reserved)
        for d in products.decoded("KAFKA-2")
    ]
    assert states == [
        ("ProductCreated", 1, 5, 0),
        ("StockChanged", 2, 5, 3),
        ("StockChanged", 3, 2, 0),
    ]
    assert all(
        m.key() == b"KAFKA-2"
        for m in products.messages
        if registry.decode(m.value()).envelope.aggregate_id == "KAFKA-2"
    ), "product events are keyed by sku"
    assert all(
        m.key() == order_id.encode()
        for m in reservations.messages
        if registry.decode(m.value()).envelope.aggregate_id == order_id
    ), "replies are keyed by order id"
    assert stock(client, "KAFKA-2") == (2, 0)


def test_a_commit_for_an_order_holding_nothing_is_dead_lettered_and_holds_back_that_order_only(
    app, client, shop_topics
):
    new_product(client, sku="KAFKA-3", stock=5)
    order_id, other_order = new_order(), new_order()
    bad = envelope_for(messages.CommitStock(order_id=order_id), correlation_id="saga-9")
    release = envelope_for(messages.ReleaseStock(order_id=order_id), correlation_id="saga-9")
    other = envelope_for(messages.ReleaseStock(order_id=other_order), correlation_id="saga-10")
    send(shop_topics, bad, release, other)
    dlq = dead_letter_topic(topics.INVENTORY_COMMANDS)
    holds = HoldStore(app.engine, orm.holds, shop_topics.qualify(app.deployable.consumer_group))
    with (
        reading(shop_topics, dlq) as dead_letters,
        reading(shop_topics, topics.RESERVATIONS) as reservations,
        running_worker(app),
    ):
        dead_letters.poll_until(
            lambda found: any(
                registry.decode(m.value()).envelope.event_id == bad.event_id for m in found
            )
        )
        reservations.poll_until(lambda _: len(reservations.decoded(other_order)) >= 1)
        [hold] = wait_for(lambda: [s for s in holds.summaries() if s.held == 1], timeout_s=60)
        assert reservations.settle() and reservations.decoded(order_id) == [], (
            "the order's release waits behind its dead letter"
        )

        holds.discard(
            topic=hold.topic, key=hold.key, letter=hold.letter, reason="the order never reserved"
        )
        reservations.poll_until(lambda _: len(reservations.decoded(order_id)) >= 1, timeout_s=60)
        wait_for(lambda: holds.summaries() == [], what="the order's key flows again")
    [letter] = [m for m in dead_letters.messages if m.key() == bad.key()]
    headers = kafka_headers_to_dict(letter.headers())
    assert headers["dlq.error.class"] == "ReservationStateError"
    assert [d.envelope.type for d in reservations.decoded(other_order)] == ["StockReleased"]
    assert [d.envelope.type for d in reservations.decoded(order_id)] == ["StockReleased"]
    assert reservations.decoded(order_id)[0].envelope.causation_id == str(release.event_id)
