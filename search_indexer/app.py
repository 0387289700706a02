"""The faust-streaming app that keeps the product index in step with inventory's events.

Events are taken in batches (up to `batch_size`, or whatever arrived within
`batch_within_s`), reduced to each product's newest event, and bulk-written with external
versions. faust acks a batch once the agent asks for the next one, even if the agent raised,
so the agent never raises: while Elasticsearch is down it retries the same batch, with the
consumer's backoff (`eventing.retry.RetryPolicy`) however long it takes (no offset moves
past what was written), and an event that cannot be indexed goes to the dead-letter topic with
its reason. The waiting happens in a thread, so faust's event loop keeps heartbeating to the
group while Elasticsearch is away.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn, cast

import faust

import contracts
from contracts import inventory
from eventing import topics
from eventing.consumer import dead_letter_headers
from eventing.errors import EventingError, PoisonMessage
from eventing.metrics import message_dead_lettered
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import registry
from eventing.retry import RetryPolicy
from eventing.topics import dead_letter_topic
from eventing.tracing import ConsumedMessage, batch_process_span, record_processed_in_batch
from search_indexer.config import Settings, load_settings
from search_indexer.documents import bulk_action, is_product_event, latest_per_product
from search_indexer.index import IndexMissing, ProductIndex, client, retry_while_unavailable
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


async def _handle_until_done(indexer: Indexer, records: list[Record]) -> None:
    """Handle the batch, trying again with backoff after any failure: faust acks a batch once
    the agent asks for the next one, so it must never move on from a batch not written."""
    attempt = 0
    while True:
        try:
            await asyncio.to_thread(indexer.handle_batch, records)
            return
        except Exception:
            if indexer.stopping.is_set():
                _exit_leaving_uncommitted(records)
            attempt += 1
            delay = indexer.retry.delay(attempt)
            log.exception("indexing a batch failed (attempt %d); retrying in %.1fs", attempt, delay)
            await asyncio.sleep(delay)


def _exit_leaving_uncommitted(records: list[Record]) -> NoReturn:
    """End the process at once, as a crash would, so nothing of the batch is committed.

    On stop, faust waits for the agent to finish its batch (`stream_wait_empty`), and while
    Elasticsearch is down it never would: the worker would not stop. The agent cannot give the
    batch up either, since faust acks a batch whatever way the agent leaves it. Exiting leaves
    the group's offsets where they are: the next indexer to get these partitions indexes the
    batch again (external versions make the rewrite harmless)."""
    log.warning(
        "stopping while a batch of %d waits for Elasticsearch: exiting without committing it; "
        "it is indexed again when the indexer next starts",
        len(records),
    )
    logging.shutdown()
    os._exit(0)


async def _stop_waiting_when_the_app_stops(app: faust.App, indexer: Indexer) -> None:
    while not app.should_stop:
        await asyncio.sleep(0.2)
    indexer.stopping.set()


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
        broker_max_poll_interval=settings.max_poll_interval_s,
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
            await _handle_until_done(indexer, [_record(event) for event in events])

    @app.task
    async def stop_waiting_for_elasticsearch_on_stop() -> None:
        await _stop_waiting_when_the_app_stops(app, indexer)

    app.indexer = indexer  # type: ignore[attr-defined]
    return app
