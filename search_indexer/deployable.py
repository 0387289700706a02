"""The search indexer as one of the shop's deployables: `search-indexer` (its service name and
its faust app id, which is its Kafka consumer group), consuming the products topic, with the
search API and the index rebuild beside its worker.

It has no database, so no outbox, inbox or unit of work: its worker is a faust app
(`search_indexer.app`) rather than the shared runtime's consumer, and its API checks
Elasticsearch rather than a database. What it shares with every consumer of the shop is in
`search_indexer.indexer`: the registry's decoding, the dead-letter writer and the spans.
The modules behind it are imported when a command runs: listing the deployable costs nothing.
"""

from __future__ import annotations

from flask import Flask

from eventing import topics
from search_indexer.config import Settings, load_settings
from servicekit.deployable import Deployable


def run_worker(settings: Settings) -> int:
    from search_indexer.app import run_worker as run_faust_worker

    return run_faust_worker(settings, DEPLOYABLE.topics)


def search_api(settings: Settings) -> Flask:
    from search_indexer.api import api_index, build_app

    return build_app(settings, api_index(settings))


DEPLOYABLE: Deployable = Deployable(
    name="search-indexer",
    package="search_indexer",
    load_settings=load_settings,
    topics=(topics.PRODUCTS,),
    worker_main=run_worker,
    api_app=search_api,
    extra_commands=("rebuild",),
)
