"""The search indexer's settings (env prefix `SEARCH_`), read once at start-up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from eventing.config import KafkaSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEARCH_", extra="ignore")

    service_name: str = "search-indexer"
    consumer_group: str = "search-indexer"
    """The faust app id, which is also its Kafka consumer group."""
    elasticsearch_url: str = "http://127.0.0.1:9200"
    index_alias: str = "products"
    """Searches and writes go through this alias; a rebuild swaps the index behind it."""
    port: int = 8003
    bind_host: str = Field(
        default="127.0.0.1", validation_alias=AliasChoices("BIND_HOST", "bind_host")
    )
    batch_size: int = 500
    batch_within_s: float = 0.2
    """A single change is written within this long; under load, batches of `batch_size`."""
    max_backoff_s: float = 10.0
    """The longest pause between the indexer's attempts while Elasticsearch is unavailable."""
    max_poll_interval_s: float = 7 * 24 * 3600.0
    """faust's `broker_max_poll_interval`, set beyond any Elasticsearch outage. While the agent
    waits for Elasticsearch, faust's buffers fill and it stops fetching; aiokafka counts that
    as idleness and, past this interval, leaves the group, and faust-streaming 0.15 never
    rejoins (its fetcher waits for the rejoin, aiokafka for a fetch): the indexer would stop
    for good. Heartbeats go on meanwhile, so a dead indexer still loses its partitions after
    the session timeout."""
    api_timeout_s: float = 3.0
    """How long the search API waits for Elasticsearch (connecting included) before it
    answers 503: a stalled cluster must not hold a storefront's request, nor gunicorn's
    threads, for longer."""
    api_retry_after_s: int = 5
    """The `Retry-After` of a 503 while Elasticsearch is unavailable: about the pace at which
    a restarting node comes back, so clients neither hammer it nor wait too long."""
    data_dir: str = str(
        Path(os.environ.get("EVENTSHOP_STATE_DIR", Path.home() / ".local" / "state" / "eventshop"))
        / "faust"
    )
    """Where faust keeps its local files (not the working directory)."""
    log_level: str = "INFO"

    def kafka(self) -> KafkaSettings:
        return KafkaSettings.from_env(client_id=self.service_name)


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
