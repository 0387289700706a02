"""Zero-downtime rebuild: replay the products topic into a new index, then swap the alias.

1. Note the topic's end offsets, create a new index, and write every event up to them into it
   (the compacted topic holds every product's latest state).
2. Point the alias at the new index in one atomic step: searches never see a gap.
3. Catch up: apply what arrived since step 1 through the alias (external versions make any
   overlap with the live indexer harmless), then delete the old index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from contracts import inventory
from eventing import topics
from eventing.config import KafkaSettings
from eventing.errors import PoisonMessage
from eventing.kafka_offsets import end_offsets
from eventing.kafka_reading import read_range
from eventing.registry import registry
from search_indexer.documents import bulk_action, is_product_event, latest_per_product
from search_indexer.index import ProductIndex, new_index_name

Progress = Callable[[int, int], None]
"""Called with (events read, events to read)."""


@dataclass(frozen=True)
class RebuildReport:
    new_index: str
    old_indices: list[str]
    events: int
    documents: int
    skipped_poison: int


def _replay(
    kafka: KafkaSettings,
    index: ProductIndex,
    target: str,
    start: dict[int, int],
    stop: dict[int, int],
    progress: Progress | None,
    batch: int = 1000,
) -> tuple[int, int]:
    """Apply the topic's events in [start, stop) per partition to `target`."""
    topic = kafka.qualify(topics.PRODUCTS)
    total = sum(max(0, stop[p] - start.get(p, 0)) for p in stop)
    read = poison = 0
    for messages in read_range(kafka, topic, start, stop, batch=batch):
        events: list[inventory.ProductEvent] = []
        for message in messages:
            read += 1
            try:
                event = registry.decode(message.value()).event
            except PoisonMessage:
                poison += 1
            else:
                if is_product_event(event):
                    events.append(event)
        index.write_until_done([bulk_action(e, target) for e in latest_per_product(events)])
        if progress:
            progress(read, total)
    return read, poison


def rebuild(
    kafka: KafkaSettings, index: ProductIndex, progress: Progress | None = None
) -> RebuildReport:
    topic = kafka.qualify(topics.PRODUCTS)
    snapshot = end_offsets(kafka, [topic])[topic]
    new_index = new_index_name(index.alias)
    index.create_index(new_index)
    read, poison = _replay(kafka, index, new_index, {}, snapshot, progress)
    index.refresh(new_index)
    old = index.swap_alias(new_index)
    latest = end_offsets(kafka, [topic])[topic]
    caught_up, more_poison = _replay(kafka, index, index.alias, snapshot, latest, None)
    for name in old:
        index.delete_index(name)
    index.refresh()
    documents = index.es.count(index=new_index)["count"]
    return RebuildReport(new_index, old, read + caught_up, documents, poison + more_poison)
