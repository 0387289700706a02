"""The faust-streaming app that feeds the indexer (`search_indexer.indexer`) its batches.

Events are taken in batches (up to `batch_size`, or whatever arrived within
`batch_within_s`). faust acks a batch once the agent asks for the next one, even if the agent
raised, so the agent never raises: while Elasticsearch is down it retries the same batch, with
the consumer's backoff (`eventing.retry.RetryPolicy`) however long it takes (no offset moves
past what was written). The waiting happens in a thread, so faust's event loop keeps
heartbeating to the group while Elasticsearch is away. Decoding, dead letters and spans are
the shop's shared ones, in the indexer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn, cast

import faust

from eventing import topics
from eventing.consumer import DeadLetters
from eventing.producer import KafkaPublisher
from eventing.tracing import kafka_headers_to_dict
from search_indexer.config import Settings, load_settings
from search_indexer.index import ProductIndex, client
from search_indexer.indexer import Indexer, Record
from servicekit.observability import logging_dict_config, setup_observability

log = logging.getLogger(__name__)


def _record(event: faust.types.EventT) -> Record:
    message = event.message
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        # faust types headers as pairs or a mapping; a consumed message's are pairs.
        headers=kafka_headers_to_dict(cast("Sequence[tuple[str, bytes]]", message.headers)),
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


def create_faust_app(
    settings: Settings | None = None, consumed: Sequence[str] = (topics.PRODUCTS,)
) -> faust.App:
    """The app indexing the `consumed` logical topics (the deployable's `topics`)."""
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
    indexer = Indexer(settings, index, DeadLetters(KafkaPublisher(kafka), settings.consumer_group))
    products = app.topic(
        *(kafka.qualify(topic) for topic in consumed),
        value_serializer="raw",
        key_serializer="raw",
        internal=False,
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


def run_worker(settings: Settings, consumed: Sequence[str]) -> int:
    """`python -m search_indexer worker`: the faust worker until SIGTERM."""
    setup_observability(settings.service_name, settings.log_level)
    app = create_faust_app(settings, consumed)
    # No faust web server: it would bind 0.0.0.0, and nothing here needs it.
    # --quiet: no banner on stdout, which would break the JSON lines.
    sys.argv = [
        "search-indexer",
        "--quiet",
        "worker",
        "--without-web",
        "--loglevel",
        settings.log_level.lower(),
    ]
    app.main()
    return 0
