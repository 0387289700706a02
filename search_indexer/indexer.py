"""What the indexer does with a batch of product messages: plain Python, no faust, so tests
can drive it directly and the faust agent (`search_indexer.app`) only feeds it.

A batch is decoded by the shop's registry, reduced to each product's newest event and
bulk-written with external versions, inside the shared batch span (`eventing.tracing`). A
message that cannot be decoded, or whose document Elasticsearch refuses, goes to the
dead-letter topic through the consumers' own writer (`eventing.consumer.DeadLetters`), with
the same headers as any dead letter of the shop. While Elasticsearch is unavailable the write
is retried with the shared backoff (`eventing.retry.RetryPolicy`) until it is taken or the
worker stops.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import contracts
from contracts import inventory
from eventing.consumer import DeadLetters
from eventing.errors import EventingError, PoisonMessage
from eventing.registry import registry
from eventing.retry import RetryPolicy
from eventing.tracing import ConsumedMessage, batch_process_span, record_processed_in_batch
from search_indexer.config import Settings
from search_indexer.documents import bulk_action, is_product_event, latest_per_product
from search_indexer.index import IndexMissing, SearchIndex, retry_while_unavailable
from search_indexer.metrics import records_indexed

log = logging.getLogger(__name__)
_ = contracts  # importing it registers the product events


@dataclass(frozen=True)
class Record(ConsumedMessage):
    """A product message as the indexer takes it: where it came from, and its bytes."""

    value: bytes | None = None

    @property
    def position(self) -> tuple[int, int]:
        return (self.partition, self.offset)


class Indexer:
    """Indexes batches of product messages into `index`; dead-letters what it cannot."""

    def __init__(self, settings: Settings, index: SearchIndex, dead_letters: DeadLetters):
        self.settings = settings
        self.index = index
        self.dead_letters = dead_letters
        self.indexed = 0
        self.retry = RetryPolicy(max_delay_s=settings.max_backoff_s)
        self.stopping = threading.Event()
        """Set when the worker starts to stop: ends a wait for Elasticsearch."""
        self._index_ready = False

    def _ensure_index(self) -> None:
        """Create the index and alias before the first write: a write to a missing alias
        would make Elasticsearch create a plain index of that name with guessed mappings."""
        if not self._index_ready:
            retry_while_unavailable(self.index.ensure, stop=self.stopping, retry=self.retry)
            self._index_ready = True

    def handle_batch(self, records: list[Record]) -> None:
        """Index a batch, traced as one span linked to every event's trace and a span in each
        event's trace (the product change as its author's trace shows it)."""
        if not records:
            return
        group = self.settings.consumer_group
        with batch_process_span(records[0].topic, group, records) as batch:
            started_ns = time.time_ns()
            dead_lettered = self._index(records)
            records_indexed(group, records, dead_lettered)
            for record in records:
                reason = dead_lettered.get(record.position)
                record_processed_in_batch(record, group, batch, started_ns, reason)

    def _index(self, records: list[Record]) -> dict[tuple[int, int], str]:
        """Write the batch's newest product states; the reason of each dead-lettered record."""
        dead_lettered: dict[tuple[int, int], str] = {}
        events: list[tuple[inventory.ProductEvent, Record]] = []
        for record in records:
            try:
                decoded = registry.decode(record.value)
            except PoisonMessage as error:
                dead_lettered[record.position] = self.dead_letter(record, error)
                continue
            if is_product_event(decoded.event):
                events.append((decoded.event, record))
        latest = latest_per_product([event for event, _ in events])
        actions = [bulk_action(event, self.index.alias) for event in latest]
        if not actions:
            return dead_lettered
        while True:
            self._ensure_index()
            try:
                rejected = self.index.write_until_done(
                    actions, stop=self.stopping, retry=self.retry
                )
                break
            except IndexMissing as error:
                log.warning("%s; recreating it", error)
                self._index_ready = False
        for refusal in rejected:
            for event, record in events:
                if event.sku == refusal.doc_id:
                    dead_lettered[record.position] = self.dead_letter(record, refusal)
        self.indexed += len(actions)
        return dead_lettered

    def dead_letter(self, record: Record, error: EventingError) -> str:
        """Send the record to the dead-letter topic with its reason; return the reason."""
        log.error(
            "dead-lettering %s[%s]@%s: %s", record.topic, record.partition, record.offset, error
        )
        self.dead_letters.send(record, record.value, error, attempts=1)
        return str(error)
