"""The Elasticsearch adapter: versioned indices behind an alias, bulk writes, search.

Callers see `SearchUnavailable` (transient: retry) and `RejectedDocument` (an event whose
document Elasticsearch refuses: dead-letter it), never the client's exceptions.

`SearchIndex` is the port the indexer writes through: `ProductIndex` is its Elasticsearch
adapter, `search_indexer.fakes.InMemoryProductIndex` its in-memory one, and
tests/contract/test_search_index_contract.py holds both to the same behaviour.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError
from elasticsearch.helpers import BulkIndexError, bulk

from eventing.errors import EventingError, TransientError
from eventing.retry import RetryPolicy
from search_indexer.documents import INDEX_MAPPINGS, INDEX_SETTINGS

log = logging.getLogger(__name__)
T = TypeVar("T")


class SearchUnavailable(TransientError):
    """Elasticsearch did not answer, or answered with a server error."""


class IndexMissing(SearchUnavailable):
    """The alias points nowhere (the index was deleted): recreate it, then write again."""


class RejectedDocument(EventingError):
    """Elasticsearch refused a document for a reason retrying cannot fix."""

    def __init__(self, doc_id: str, reason: str):
        super().__init__(f"document {doc_id} rejected: {reason}")
        self.doc_id = doc_id


UNTIL_AVAILABLE = RetryPolicy(base_delay_s=0.2, max_delay_s=10.0)
"""The backoff between attempts while Elasticsearch is unavailable (its `max_attempts` is
not used: such a wait is never given up)."""


class SearchIndex(Protocol):
    """The product index as the indexer writes it: documents by product id behind an alias,
    each kept only if its external version is newer than the one the index holds."""

    alias: str

    def ensure(self) -> str: ...

    def indices_behind_alias(self) -> list[str]: ...

    def delete_index(self, name: str) -> None: ...

    def write(self, actions: Iterable[dict[str, Any]]) -> list[RejectedDocument]: ...

    def write_until_done(
        self,
        actions: list[dict[str, Any]],
        stop: threading.Event | None = None,
        retry: RetryPolicy = ...,
    ) -> list[RejectedDocument]: ...

    def refresh(self, index: str | None = None) -> None: ...

    def all_documents(self, index: str | None = None) -> dict[str, dict[str, Any]]:
        """Every document by id, as a search sees them: what was written before the last
        `refresh`."""
        ...


def client(url: str, request_timeout_s: float = 10.0) -> Elasticsearch:
    """A client that tries each request once and waits at most `request_timeout_s` for it
    (connecting included): whoever calls decides whether and when to try again."""
    return Elasticsearch(
        url, request_timeout=request_timeout_s, max_retries=0, retry_on_timeout=False
    )


def retry_while_unavailable(
    operation: Callable[[], T],
    *,
    stop: threading.Event | None = None,
    retry: RetryPolicy = UNTIL_AVAILABLE,
) -> T:
    """Call `operation` until Elasticsearch takes it, with `retry`'s backoff between attempts,
    however long that takes. IndexMissing is the caller's to handle (it recreates the index);
    `stop` ends the wait early by raising the last SearchUnavailable."""
    failures = 0
    while True:
        try:
            return operation()
        except IndexMissing:
            raise
        except SearchUnavailable as error:
            failures += 1
            delay = retry.delay(failures)
            log.warning(
                "elasticsearch unavailable (%s); attempt %d failed, retrying in %.1fs",
                error,
                failures,
                delay,
            )
            if stop is None:
                time.sleep(delay)
            elif stop.wait(delay):
                raise


def new_index_name(alias: str) -> str:
    return f"{alias}-{datetime.now(UTC):%Y%m%d%H%M%S%f}"


class ProductIndex:
    def __init__(self, es: Elasticsearch, alias: str):
        self.es = es
        self.alias = alias

    def _call(self, what: str, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (TransportError, ConnectionError) as error:
            raise SearchUnavailable(f"{what}: {error}") from error
        except ApiError as error:
            if error.status_code >= 500 or error.status_code == 429:
                raise SearchUnavailable(f"{what}: {error}") from error
            raise

    def check_health(self) -> None:
        """Return if the cluster answers; raise SearchUnavailable if it does not."""
        self._call("reading cluster health", self.es.cluster.health, timeout="2s")

    def create_index(self, name: str) -> None:
        self._call(
            "creating index",
            self.es.indices.create,
            index=name,
            settings=INDEX_SETTINGS,
            mappings=INDEX_MAPPINGS,
        )

    def indices_behind_alias(self) -> list[str]:
        try:
            return sorted(self._call("reading alias", self.es.indices.get_alias, name=self.alias))
        except NotFoundError:
            return []

    def ensure(self) -> str:
        """The index behind the alias, created (with the alias) if there is none."""
        current = self.indices_behind_alias()
        if current:
            return current[0]
        name = new_index_name(self.alias)
        self.create_index(name)
        try:
            self._call(
                "adding alias",
                self.es.indices.update_aliases,
                actions=[{"add": {"index": name, "alias": self.alias, "is_write_index": True}}],
            )
        except ApiError:
            self.es.indices.delete(index=name, ignore_unavailable=True)
            raise
        return name

    def swap_alias(self, new_index: str) -> list[str]:
        """Point the alias at `new_index` in one atomic step; returns the indices it left."""
        old = self.indices_behind_alias()
        actions: list[dict[str, dict[str, Any]]] = [
            {"remove": {"index": index, "alias": self.alias}} for index in old
        ]
        actions.append({"add": {"index": new_index, "alias": self.alias, "is_write_index": True}})
        self._call("swapping alias", self.es.indices.update_aliases, actions=actions)
        return old

    def delete_index(self, name: str) -> None:
        self._call("deleting index", self.es.indices.delete, index=name, ignore_unavailable=True)

    def refresh(self, index: str | None = None) -> None:
        self._call("refreshing", self.es.indices.refresh, index=index or self.alias)

    def write(self, actions: Iterable[dict[str, Any]]) -> list[RejectedDocument]:
        """Bulk-apply actions. Version conflicts (an older event) and deletes of missing
        documents are expected and fine; other refusals come back as RejectedDocument."""
        try:
            _, errors = self._call(
                "bulk write",
                bulk,
                self.es,
                actions,
                raise_on_error=False,
                raise_on_exception=True,
                refresh=False,
            )
        except BulkIndexError as error:  # pragma: no cover - raise_on_error=False
            errors = error.errors
        rejected = []
        for item in errors:
            ((operation, detail),) = item.items()
            status = detail.get("status", 0)
            if status == 409 or (operation == "delete" and status == 404):
                continue
            if status >= 500 or status == 429:
                raise SearchUnavailable(f"bulk {operation} failed with {status}")
            if detail.get("error", {}).get("type") == "index_not_found_exception":
                raise IndexMissing(f"bulk {operation}: the index behind {self.alias} is gone")
            reason = detail.get("error", {})
            rejected.append(RejectedDocument(str(detail.get("_id")), str(reason)[:500]))
        return rejected

    def write_until_done(
        self,
        actions: list[dict[str, Any]],
        stop: threading.Event | None = None,
        retry: RetryPolicy = UNTIL_AVAILABLE,
    ) -> list[RejectedDocument]:
        """Write, retrying while Elasticsearch is unavailable, so nothing is skipped."""
        return retry_while_unavailable(lambda: self.write(actions), stop=stop, retry=retry)

    def search(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The raw response, or None while the index does not exist yet."""
        try:
            return self._call("searching", self.es.search, index=self.alias, **body).body
        except NotFoundError:
            return None

    def all_documents(self, index: str | None = None) -> dict[str, dict[str, Any]]:
        """Every document by id (for comparing indices; fine for a catalogue's size)."""
        from elasticsearch.helpers import scan

        return {
            hit["_id"]: hit["_source"]
            for hit in scan(self.es, index=index or self.alias, query={"query": {"match_all": {}}})
        }
