"""The search indexer as a real faust process, on a topic namespace, index alias and consumer
group of its own, with its search API beside it (in the test's process, or served by gunicorn
as `make up` runs it): for e2e tests and benchmarks."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import cast

import requests
from elasticsearch import NotFoundError

from eventing import topics
from eventing.config import KafkaSettings
from eventing.kafka_offsets import group_lag
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import envelope_for
from search_indexer.api import build_app
from search_indexer.config import load_settings
from search_indexer.index import ProductIndex, SearchUnavailable, client
from testkit.conditions import wait_for
from testkit.ports import free_port
from testkit.processes import terminate
from testkit.shop import REPO


class Indexer:
    """The faust worker as a process, on a namespace, alias and consumer group of its own."""

    def __init__(
        self,
        kafka: KafkaSettings | None = None,
        extra_env: dict[str, str] | None = None,
        *,
        elasticsearch_url: str | None = None,
        index_alias: str | None = None,
    ):
        """kafka: the topic namespace (and broker) to index (by default a namespace of its own,
        to be created by the caller, on the local broker); extra_env: more environment for the
        worker (tracing, say); elasticsearch_url: another node than the settings' own (a private
        stack's); index_alias: the alias to write, to share it with a shop's search API (by
        default one of its own)."""
        unique = uuid.uuid4().hex[:8]
        self.kafka = kafka or KafkaSettings.from_env(
            client_id="search-e2e", topic_namespace=f"s{unique}."
        )
        self.settings = load_settings(
            index_alias=index_alias or f"products-{unique}",
            consumer_group=f"search-indexer-{unique}",
            batch_within_s=0.1,
            **({"elasticsearch_url": elasticsearch_url} if elasticsearch_url else {}),
        )
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "KAFKA_TOPIC_NAMESPACE": self.kafka.topic_namespace,
            "SEARCH_ELASTICSEARCH_URL": self.settings.elasticsearch_url,
            "SEARCH_INDEX_ALIAS": self.settings.index_alias,
            "SEARCH_CONSUMER_GROUP": self.settings.consumer_group,
            "SEARCH_BATCH_WITHIN_S": "0.1",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            **(extra_env or {}),
        }
        self.index = ProductIndex(
            client(self.settings.elasticsearch_url), self.settings.index_alias
        )
        self.search_client = build_app(self.settings, self.index).test_client()
        self.process: subprocess.Popen | None = None
        self.api_process: subprocess.Popen | None = None
        self.api_url = ""
        self.log = Path(tempfile.mkdtemp(prefix="search-e2e-")) / "indexer.log"

    @functools.cached_property
    def publisher(self) -> KafkaPublisher:
        """Made on first use: an indexer fed by a shop never publishes, and an idle producer
        would go on calling a private broker after the drill has stopped it."""
        return KafkaPublisher(self.kafka)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "search_indexer", "worker"],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_api(self, timeout_s: float = 120.0) -> str:
        """Serve the search API on this indexer's index as `make up` does (gunicorn,
        `python -m search_indexer api`) on a free port; its URL, once it answers /healthz."""
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        with self.log.with_name("api.log").open("ab") as log:
            self.api_process = subprocess.Popen(
                [sys.executable, "-m", "search_indexer", "api"],
                cwd=REPO,
                env={**self.env, "SEARCH_PORT": str(port), "WEB_CONCURRENCY": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._api_alive, timeout_s, f"the search API at {self.api_url}")
        return self.api_url

    def _api_alive(self) -> bool:
        assert self.api_process is not None
        assert self.api_process.poll() is None, f"the search API exited; log: {self.log.parent}"
        try:
            return requests.get(f"{self.api_url}/healthz", timeout=5).ok
        except requests.RequestException:
            return False

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed or committed on the way out."""
        assert self.process is not None, "start() the indexer before killing it"
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        terminate(self.process)

    def close(self) -> None:
        """Stop the worker (and the API) and delete the indices it wrote."""
        self.stop()
        terminate(self.api_process)
        for name in self.index.indices_behind_alias():
            self.index.delete_index(name)

    def publish(self, *events) -> None:
        self.publisher.publish(
            OutgoingMessage(
                self.kafka.qualify(topics.PRODUCTS), e.sku.encode(), envelope_for(e).to_bytes()
            )
            for e in events
        )

    def search(self, **params) -> dict:
        response = self.search_client.get("/search", query_string=params)
        assert response.status_code == 200, response.json
        return cast(dict, response.json)  # typed optional: a 200 from /search is JSON

    def caught_up(self) -> bool:
        """Whether the indexer has committed every product event published so far. It commits
        only what Elasticsearch has taken, so each of them has been written (or dead-lettered)."""
        products = self.kafka.qualify(topics.PRODUCTS)
        lags = [
            lag
            for lag in group_lag(self.kafka, self.settings.consumer_group)
            if lag.topic == products
        ]
        return bool(lags) and all(lag.lag == 0 for lag in lags)

    def indexed_versions(self, skus: list[str]) -> dict[str, int]:
        """sku -> the version of its search document as a search sees it now (no refresh: the
        index's own interval); a product not indexed is absent."""
        query = {"query": {"terms": {"sku": skus}}, "size": len(skus), "_source": ["version"]}
        response = self.index.search(query) or {"hits": {"hits": []}}
        return {hit["_id"]: hit["_source"]["version"] for hit in response["hits"]["hits"]}

    def wait_for(self, condition, what: str, timeout_s: float = 90.0):
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(SearchUnavailable, NotFoundError):  # not created yet
                self.index.refresh()
                result = condition()
                if result:
                    return result
            assert time.monotonic() < deadline, f"{what}; indexer log: {self.log}"
            time.sleep(0.2)
