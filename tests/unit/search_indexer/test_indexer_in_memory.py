"""The indexer's batch handler on the in-memory index (`search_indexer.fakes`, held to the
Elasticsearch adapter by tests/contract/test_search_index_contract.py), its dead letters kept
in memory instead of a Kafka topic: what a batch does to the index, and what it dead-letters
with the headers every consumer of the shop writes. No server; the real faust process on
Kafka and Elasticsearch is tested in tests/e2e/test_search.py."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import pytest

from contracts import inventory
from eventing.consumer import DeadLetters
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import envelope_for
from eventing.topics import dead_letter_topic
from search_indexer.config import Settings
from search_indexer.fakes import InMemoryProductIndex
from search_indexer.index import SearchUnavailable
from search_indexer.indexer import Indexer, Record
from testkit.conditions import wait_for

TOPIC = "inventory.products"


class InMemoryDeadLetterTopics(KafkaPublisher):
    """What the shared dead-letter writer publishes, kept in a list instead of sent to Kafka."""

    def __init__(self) -> None:
        self.messages: list[OutgoingMessage] = []

    def publish(self, messages: Iterable[OutgoingMessage], timeout_s: float = 30.0) -> int:
        batch = list(messages)
        self.messages.extend(batch)
        return len(batch)


@pytest.fixture
def index() -> InMemoryProductIndex:
    return InMemoryProductIndex("products")


@pytest.fixture
def letters() -> InMemoryDeadLetterTopics:
    return InMemoryDeadLetterTopics()


@pytest.fixture
def indexer(index, letters) -> Indexer:
    settings = Settings(consumer_group="search-indexer", max_backoff_s=0.01)
    return Indexer(settings, index, DeadLetters(letters, settings.consumer_group))


def product(sku: str, version: int, name: str = "Kettle", price: int = 4500):
    return inventory.ProductUpdated(
        sku=sku,
        version=version,
        name=name,
        description="Boils water",
        category="kitchen",
        price_cents=price,
        attributes={},
        stock_on_hand=2,
        stock_reserved=0,
        stock_available=2,
    )


class Topic:
    """Records at the next offsets of partition 0, as faust hands them over."""

    def __init__(self) -> None:
        self.offset = 0

    def record(self, value: bytes, key: bytes = b"K", headers: dict | None = None) -> Record:
        self.offset += 1
        return Record(TOPIC, 0, self.offset, key, headers or {}, value)

    def events(self, *events: inventory.ProductEvent) -> list[Record]:
        return [self.record(envelope_for(e).to_bytes(), e.sku.encode()) for e in events]


def names(index: InMemoryProductIndex) -> dict[str, str]:
    return {sku: document["name"] for sku, document in index.all_documents().items()}


def test_a_batch_writes_each_products_newest_state_once(indexer, index):
    topic = Topic()
    indexer.handle_batch(
        topic.events(product("A", 1, "A1"), product("A", 3, "A3"), product("A", 2, "A2"))
        + topic.events(product("B", 1, "B1"))
    )
    assert names(index) == {"A": "A3", "B": "B1"}
    assert indexer.indexed == 2, "one write per product, not per event"


def test_events_replayed_or_arriving_late_in_later_batches_leave_the_newest_state(indexer, index):
    topic = Topic()
    history = [product("A", version, f"A{version}") for version in (1, 2, 3)]
    indexer.handle_batch(topic.events(*history))
    indexer.handle_batch(topic.events(*reversed(history)))
    indexer.handle_batch(topic.events(history[0], inventory.ProductDeleted(sku="B", version=1)))
    assert names(index) == {"A": "A3"}


def test_a_deleted_product_leaves_the_index_and_an_older_event_does_not_restore_it(indexer, index):
    topic = Topic()
    indexer.handle_batch(topic.events(product("A", 1)))
    indexer.handle_batch(topic.events(inventory.ProductDeleted(sku="A", version=2)))
    indexer.handle_batch(topic.events(product("A", 1)))
    assert names(index) == {}


def test_an_undecodable_message_is_dead_lettered_by_the_shared_writer_and_the_rest_indexed(
    indexer, index, letters
):
    topic = Topic()
    poison = topic.record(b"not an envelope", b"POISON", {"traceparent": "00-x-y-01"})
    indexer.handle_batch([poison, *topic.events(product("A", 1))])

    assert names(index) == {"A": "Kettle"}
    [letter] = letters.messages
    assert (letter.topic, letter.key, letter.value) == (
        dead_letter_topic(TOPIC),
        b"POISON",
        b"not an envelope",
    )
    assert letter.headers["traceparent"] == "00-x-y-01", "the original headers are kept"
    assert {
        name: letter.headers[name]
        for name in (
            "dlq.original.topic",
            "dlq.original.partition",
            "dlq.original.offset",
            "dlq.consumer.group",
            "dlq.error.class",
            "dlq.attempts",
        )
    } == {
        "dlq.original.topic": TOPIC,
        "dlq.original.partition": "0",
        "dlq.original.offset": str(poison.offset),
        "dlq.consumer.group": "search-indexer",
        "dlq.error.class": "UndecodableMessage",
        "dlq.attempts": "1",
    }
    assert "dlq.failed_at" in letter.headers and letter.headers["dlq.error.message"]


def test_a_document_the_index_refuses_dead_letters_every_record_of_that_product_only(
    indexer, index, letters
):
    topic = Topic()
    refused = topic.events(product("HUGE", 1, price=2**63), product("HUGE", 2, price=2**63))
    indexer.handle_batch([*refused, *topic.events(product("A", 1))])

    assert names(index) == {"A": "Kettle"}
    assert sorted(int(m.headers["dlq.original.offset"]) for m in letters.messages) == [
        r.offset for r in refused
    ]
    assert {m.headers["dlq.error.class"] for m in letters.messages} == {"RejectedDocument"}


def test_a_lost_index_is_recreated_by_the_next_batch_instead_of_dead_lettering_it(
    indexer, index, letters
):
    topic = Topic()
    indexer.handle_batch(topic.events(product("A", 1)))
    for name in index.indices_behind_alias():
        index.delete_index(name)  # the search cluster lost its data

    indexer.handle_batch(topic.events(product("B", 1)))
    assert names(index) == {"B": "Kettle"}
    assert letters.messages == []


def test_a_batch_waits_while_the_index_is_unreachable_and_is_written_once_it_is_back(
    indexer, index, letters
):
    topic = Topic()
    indexer.handle_batch(topic.events(product("A", 1)))
    index.reachable = False
    batch = topic.events(product("A", 2, "A2"), product("B", 1))
    writing = threading.Thread(target=indexer.handle_batch, args=(batch,))
    writing.start()
    wait_for(lambda: index.failed_calls >= 3, what="the indexer to keep trying")
    assert writing.is_alive(), "it waits, it does not give the batch up"

    index.reachable = True
    writing.join(timeout=30)
    assert not writing.is_alive()
    assert names(index) == {"A": "A2", "B": "Kettle"}
    assert letters.messages == [], "nothing is dead-lettered for an outage"


def test_a_stopping_worker_ends_the_wait_without_writing_or_dead_lettering(indexer, index, letters):
    topic = Topic()
    index.ensure()
    index.reachable = False
    failure: list[BaseException] = []

    def handle() -> None:
        try:
            indexer.handle_batch(topic.events(product("A", 1)))
        except SearchUnavailable as error:
            failure.append(error)

    writing = threading.Thread(target=handle)
    writing.start()
    wait_for(lambda: index.failed_calls >= 1, what="the indexer to wait for the index")
    indexer.stopping.set()
    writing.join(timeout=30)

    assert not writing.is_alive() and failure, "the wait ended with the index still away"
    index.reachable = True
    assert names(index) == {} and letters.messages == []
