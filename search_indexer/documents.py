"""From product events to search documents and Elasticsearch bulk actions (pure, no I/O).

Every action carries the product's version with `version_type=external`: Elasticsearch keeps
a document only if the version is newer than the one it holds, so a duplicate or an older event
arriving late can never move search backwards. A deletion is versioned the same way.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from contracts import inventory
from eventing.registry import Event

INDEX_SETTINGS: dict[str, Any] = {
    "number_of_shards": 1,
    "number_of_replicas": 0,
    "refresh_interval": "200ms",
    # Remember deletions (and their versions) for a week, so a stale event replayed later
    # cannot bring a deleted product back.
    "gc_deletes": "7d",
}

# Only what core Elasticsearch offers: the official image and the Maven Central distribution
# of the local stack (which has no analysis-common module) then index and search alike.
INDEX_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "sku": {"type": "keyword"},
        "name": {
            "type": "text",
            "analyzer": "standard",
            "fields": {"raw": {"type": "keyword", "ignore_above": 256}},
        },
        "description": {"type": "text", "analyzer": "standard"},
        "category": {"type": "keyword"},
        "price_cents": {"type": "long"},
        "in_stock": {"type": "boolean"},
        "stock_available": {"type": "integer"},
        "attributes": {"type": "object", "enabled": False},
        "version": {"type": "long"},
    },
}

_STATE_EVENTS = (inventory.ProductCreated, inventory.ProductUpdated, inventory.StockChanged)


def is_product_event(event: Event) -> TypeGuard[inventory.ProductEvent]:
    return isinstance(event, (*_STATE_EVENTS, inventory.ProductDeleted))


def document(event: Event) -> dict[str, Any]:
    assert isinstance(event, _STATE_EVENTS)
    return {
        "sku": event.sku,
        "name": event.name,
        "description": event.description,
        "category": event.category,
        "price_cents": event.price_cents,
        "in_stock": event.stock_available > 0,
        "stock_available": event.stock_available,
        "attributes": event.attributes,
        "version": event.version,
    }


def bulk_action(event: inventory.ProductEvent, index: str) -> dict[str, Any]:
    """The bulk action that brings `index` to the state `event` describes."""
    common = {
        "_index": index,
        "_id": event.sku,
        "version": event.version,
        "version_type": "external",
    }
    if isinstance(event, inventory.ProductDeleted):
        return {"_op_type": "delete", **common}
    return {"_op_type": "index", **common, "_source": document(event)}


def latest_per_product(events: list[inventory.ProductEvent]) -> list[inventory.ProductEvent]:
    """Within a batch only each product's newest event matters (fewer writes, same result)."""
    newest: dict[str, inventory.ProductEvent] = {}
    for event in events:
        current = newest.get(event.sku)
        if current is None or event.version > current.version:
            newest[event.sku] = event
    return list(newest.values())
