"""The product index in memory: the `SearchIndex` port without Elasticsearch, for tests of the
indexer that run in milliseconds. tests/contract/test_search_index_contract.py holds it to the
behaviour of the Elasticsearch adapter (`search_indexer.index.ProductIndex`):

- documents by id, each written only if its external version is newer than the one held
  (an older or repeated event is no error); a deletion is versioned the same way and
  remembered, so an older event cannot bring the product back (the index's `gc_deletes`);
- a write to an alias with no index behind it raises `IndexMissing` (the shop's Elasticsearch
  does not create indices on write);
- a document with a field the strict mapping does not know, or a number beyond its field's
  type (a price past a `long`), comes back as `RejectedDocument`;
- a read sees every write at once (Elasticsearch: every write before the last `refresh`);
- while `reachable` is False every call raises `SearchUnavailable`, as a node that is down.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from eventing.retry import RetryPolicy
from search_indexer.documents import INDEX_MAPPINGS
from search_indexer.index import (
    UNTIL_AVAILABLE,
    IndexMissing,
    RejectedDocument,
    SearchUnavailable,
    new_index_name,
    retry_while_unavailable,
)

_KNOWN_FIELDS = frozenset(INDEX_MAPPINGS["properties"])
_RANGES = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}
_NUMBER_RANGES = {
    name: _RANGES[mapping["type"]]
    for name, mapping in INDEX_MAPPINGS["properties"].items()
    if mapping["type"] in _RANGES
}


def _refusal(source: dict[str, Any]) -> str | None:
    """Why the strict mapping refuses the document, if it does."""
    unknown = sorted(set(source) - _KNOWN_FIELDS)
    if unknown:
        return f"strict mapping refuses fields {unknown}"
    for name, (low, high) in _NUMBER_RANGES.items():
        value = source.get(name)
        if isinstance(value, int) and not low <= value <= high:
            return f"{name} {value} is out of range"
    return None


@dataclass
class _Stored:
    version: int
    source: dict[str, Any] | None
    """None: deleted at `version`."""


@dataclass
class _Index:
    documents: dict[str, _Stored] = field(default_factory=dict)


class InMemoryProductIndex:
    def __init__(self, alias: str = "products"):
        self.alias = alias
        self.reachable = True
        self.failed_calls = 0
        """Calls refused while unreachable: how a test sees the indexer keep trying."""
        self._indices: dict[str, _Index] = {}
        self._behind_alias: str | None = None
        self._lock = threading.Lock()

    def _available(self) -> None:
        if not self.reachable:
            self.failed_calls += 1
            raise SearchUnavailable("the in-memory index is unreachable")

    def ensure(self) -> str:
        with self._lock:
            self._available()
            if self._behind_alias is None:
                name = new_index_name(self.alias)
                self._indices[name] = _Index()
                self._behind_alias = name
            return self._behind_alias

    def indices_behind_alias(self) -> list[str]:
        with self._lock:
            self._available()
            return [self._behind_alias] if self._behind_alias else []

    def delete_index(self, name: str) -> None:
        with self._lock:
            self._available()
            self._indices.pop(name, None)
            if self._behind_alias == name:
                self._behind_alias = None

    def write(self, actions: Iterable[dict[str, Any]]) -> list[RejectedDocument]:
        with self._lock:
            self._available()
            rejected = []
            for action in actions:
                index = self._target(action["_index"])
                refusal = self._apply(index, action)
                if refusal is not None:
                    rejected.append(refusal)
            return rejected

    def write_until_done(
        self,
        actions: list[dict[str, Any]],
        stop: threading.Event | None = None,
        retry: RetryPolicy = UNTIL_AVAILABLE,
    ) -> list[RejectedDocument]:
        return retry_while_unavailable(lambda: self.write(actions), stop=stop, retry=retry)

    def refresh(self, index: str | None = None) -> None:
        with self._lock:
            self._available()
            self._target(index or self.alias)

    def all_documents(self, index: str | None = None) -> dict[str, dict[str, Any]]:
        with self._lock:
            self._available()
            target = self._target(index or self.alias)
            return {
                doc_id: dict(stored.source)
                for doc_id, stored in target.documents.items()
                if stored.source is not None
            }

    def _target(self, name: str) -> _Index:
        if name == self.alias:
            if self._behind_alias is None:
                raise IndexMissing(f"the index behind {self.alias} is gone")
            name = self._behind_alias
        if name not in self._indices:
            raise IndexMissing(f"no index {name}")
        return self._indices[name]

    @staticmethod
    def _apply(index: _Index, action: dict[str, Any]) -> RejectedDocument | None:
        doc_id, version = str(action["_id"]), int(action["version"])
        held = index.documents.get(doc_id)
        if held is not None and held.version >= version:
            return None  # an older or repeated event: Elasticsearch's 409, which is fine
        if action["_op_type"] == "delete":
            index.documents[doc_id] = _Stored(version, None)
            return None
        refusal = _refusal(action["_source"])
        if refusal is not None:
            return RejectedDocument(doc_id, refusal)
        index.documents[doc_id] = _Stored(version, dict(action["_source"]))
        return None
