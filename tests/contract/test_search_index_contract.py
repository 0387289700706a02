"""The search index port (`search_indexer.index.SearchIndex`), one spec for both adapters: the
in-memory fake the indexer's fast tests use, and the Elasticsearch adapter on the local node
(an alias of the test's own, its indices deleted afterwards)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from contracts import inventory
from eventing.retry import RetryPolicy
from search_indexer.config import Settings
from search_indexer.documents import bulk_action
from search_indexer.fakes import InMemoryProductIndex
from search_indexer.index import (
    IndexMissing,
    ProductIndex,
    SearchIndex,
    SearchUnavailable,
    client,
)
from testkit.ports import free_port

ADAPTERS = ["in_memory", pytest.param("elasticsearch", marks=pytest.mark.integration)]
QUICK = RetryPolicy(base_delay_s=0.001, max_delay_s=0.002)


@pytest.fixture(params=ADAPTERS)
def adapter(request) -> str:
    return request.param


@pytest.fixture
def index(adapter: str) -> Iterator[SearchIndex]:
    alias = f"contract-{uuid.uuid4().hex[:12]}"
    if adapter == "in_memory":
        yield InMemoryProductIndex(alias)
        return
    real = ProductIndex(client(Settings().elasticsearch_url), alias)
    try:
        yield real
    finally:
        for name in real.indices_behind_alias():
            real.delete_index(name)


@pytest.fixture
def unreachable(adapter: str) -> SearchIndex:
    """An index whose node is down: nothing listens where it points."""
    if adapter == "in_memory":
        fake = InMemoryProductIndex()
        fake.reachable = False
        return fake
    return ProductIndex(
        client(f"http://127.0.0.1:{free_port()}", request_timeout_s=2.0), "products"
    )


def updated(
    sku: str, version: int, name: str = "Kettle", price_cents: int = 4500
) -> inventory.ProductUpdated:
    return inventory.ProductUpdated(
        sku=sku,
        version=version,
        name=name,
        description="Boils water",
        category="kitchen",
        price_cents=price_cents,
        attributes={},
        stock_on_hand=3,
        stock_reserved=0,
        stock_available=3,
    )


def write(index: SearchIndex, *events: inventory.ProductEvent) -> list:
    return index.write([bulk_action(event, index.alias) for event in events])


def names(index: SearchIndex) -> dict[str, Any]:
    index.refresh()
    return {sku: document["name"] for sku, document in index.all_documents().items()}


def test_ensure_creates_one_index_behind_the_alias_and_then_finds_it(index):
    assert index.indices_behind_alias() == []
    created = index.ensure()
    assert index.ensure() == created
    assert index.indices_behind_alias() == [created]


def test_a_newer_version_replaces_the_document_and_an_older_or_repeated_one_is_no_error(index):
    index.ensure()
    assert write(index, updated("A", 2, "Kettle v2"), updated("B", 1, "Mug v1")) == []
    assert write(index, updated("A", 1, "Kettle v1"), updated("A", 2, "Kettle again")) == []
    assert write(index, updated("B", 3, "Mug v3")) == []
    assert names(index) == {"A": "Kettle v2", "B": "Mug v3"}


def test_a_deletion_is_versioned_and_an_older_event_does_not_bring_the_product_back(index):
    index.ensure()
    write(index, updated("A", 1))
    assert write(index, inventory.ProductDeleted(sku="A", version=2)) == []
    assert write(index, updated("A", 1), inventory.ProductDeleted(sku="never", version=1)) == []
    index.refresh()
    assert index.all_documents() == {}
    write(index, updated("A", 3, "Kettle back"))
    assert names(index) == {"A": "Kettle back"}


def test_a_document_the_mapping_refuses_is_rejected_by_id_and_the_rest_is_written(index):
    index.ensure()
    refused = bulk_action(updated("BAD", 1), index.alias)
    refused["_source"] = {**refused["_source"], "colour": "red"}  # the mapping is strict
    [rejection] = index.write([refused, bulk_action(updated("GOOD", 1), index.alias)])
    assert rejection.doc_id == "BAD"
    assert names(index) == {"GOOD": "Kettle"}


def test_a_price_beyond_what_the_index_can_hold_is_rejected_and_the_rest_is_written(index):
    index.ensure()
    [rejection] = write(index, updated("HUGE", 1, price_cents=2**63), updated("GOOD", 1))
    assert rejection.doc_id == "HUGE"
    assert names(index) == {"GOOD": "Kettle"}


def test_a_write_to_an_alias_with_no_index_behind_it_raises_index_missing(index):
    with pytest.raises(IndexMissing):
        write(index, updated("A", 1))
    for name in [index.ensure()]:
        index.delete_index(name)
    assert index.indices_behind_alias() == []
    with pytest.raises(IndexMissing):
        write(index, updated("A", 1))


def test_write_until_done_writes_at_once_when_the_index_is_there(index):
    index.ensure()
    action = bulk_action(updated("A", 1), index.alias)
    assert index.write_until_done([action], retry=QUICK) == []
    assert names(index) == {"A": "Kettle"}


def test_an_unreachable_index_is_unavailable_and_a_stop_ends_the_wait_for_it(unreachable):
    with pytest.raises(SearchUnavailable):
        unreachable.ensure()
    stop = threading.Event()
    stop.set()
    action = bulk_action(updated("A", 1), unreachable.alias)
    with pytest.raises(SearchUnavailable):
        unreachable.write_until_done([action], stop=stop, retry=QUICK)
