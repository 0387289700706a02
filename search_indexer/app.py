"""The faust-streaming app that keeps the product index in step with inventory's events.

Events are taken in batches (up to `batch_size`, or whatever arrived within
`batch_within_s`), reduced to each product's newest event, and bulk-written with external
versions. faust acks a batch once the agent asks for the next one, even if the agent raised,
so the agent never raises: while Elasticsearch is down it retries the same batch (no offset
moves past what was written), and an event that cannot be indexed goes to the dead-letter
topic with its reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import faust

import contracts
from contracts import inventory
from eventing import topics
from eventing.consumer import dead_letter_headers
from eventing.errors import EventingError, PoisonMessage
from eventing.metrics import message_dead_lettered
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import registry
from eventing.topics import dead_letter_topic
from eventing.tracing import ConsumedMessage, batch_process_span, record_processed_in_batch
from search_indexer.config import Settings, load_settings
from search_indexer.documents import bulk_action, is_product_event, latest_per_product
from search_indexer.index import IndexMissing, ProductIndex, SearchUnavailable, client
from search_indexer.metrics import records_indexed
from servicekit.observability import logging_dict_config

log = logging.getLogger(__name__)
_ = contracts  # importing it registers the product events


@dataclass(frozen=True)
class Record(ConsumedMessage):
    """A product message as the agent takes it from faust."""

    value: bytes | None = None

    @property
    def position(self) -> tuple[int, int]:
        return (self.partition, self.offset)


class Indexer:
    """What the agent does with a batch; plain Python, so tests can drive it directly."""

    def __init__(self, settings: Settings, index: ProductIndex, publisher: KafkaPublisher):
        self.settings = settings
        self.index = index
        self.publisher = publisher
        self.kafka = settings.kafka()
        self.indexed = 0
        self._index_ready = False

    def _ensure_index(self) -> None:
        """Create the index and alias before the first write: a write to a missing alias
        would make Elasticsearch create a plain index of that name with guessed mappings."""
        while not self._index_ready:
            try:
                self.index.ensure()
                self._index_ready = True
            except SearchUnavailable as error:
                log.warning("cannot prepare the index yet: %s", error)
                time.sleep(1)

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
                    actions, max_backoff_s=self.settings.max_backoff_s
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
        headers = dead_letter_headers(
            headers=dict(record.headers),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            group_id=self.settings.consumer_group,
            error=error,
            attempts=1,
        )
        self.publisher.publish(
            [
                OutgoingMessage(
                    dead_letter_topic(record.topic), record.key or b"", record.value or b"", headers
                )
            ]
        )
        message_dead_lettered(self.settings.consumer_group, record.topic)
        return str(error)


def _record(event: faust.types.EventT) -> Record:
    message = event.message
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        headers={
            k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v))
            # faust types headers as pairs or a mapping; a consumed message's are pairs.
            for k, v in cast("Sequence[tuple[str, bytes]]", message.headers or [])
        },
        value=message.value,
    )


def create_faust_app(settings: Settings | None = None) -> faust.App:
    settings = settings or load_settings()
    kafka = settings.kafka()
    app = faust.App(
        settings.consumer_group,
        broker=f"kafka://{kafka.bootstrap_servers}",
        # faust applies a logging config of its own when the worker starts: make it ours.
        logging_config=logging_dict_config(settings.service_name, settings.log_level),
        store="memory://",
        datadir=settings.data_dir,
        web_enabled=False,
        topic_partitions=3,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # Like the other consumers: a crashed indexer's partitions move after 10 s, not 60 s.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
    )
    index = ProductIndex(client(settings.elasticsearch_url), settings.index_alias)
    indexer = Indexer(settings, index, KafkaPublisher(kafka))
    products = app.topic(
        kafka.qualify(topics.PRODUCTS), value_serializer="raw", key_serializer="raw", internal=False
    )

    @app.agent(products)
    async def index_products(stream: faust.StreamT) -> None:
        # faust's StreamT lacks take_events, which the faust.Stream an agent is given has.
        batches = stream.take_events(  # type: ignore[attr-defined]
            settings.batch_size, within=settings.batch_within_s
        )
        async for events in batches:
            records = [_record(event) for event in events]
            try:
                await asyncio.to_thread(indexer.handle_batch, records)
            except Exception:  # never let faust ack a batch that was not written
                log.exception("indexing a batch failed unexpectedly; retrying it")
                while True:
                    await asyncio.sleep(1)
                    try:
                        await asyncio.to_thread(indexer.handle_batch, records)
                        break
                    except Exception:
                        log.exception("retrying the batch failed")

    app.indexer = indexer  # type: ignore[attr-defined]
    return app
