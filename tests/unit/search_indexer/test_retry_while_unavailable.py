"""How the indexer waits for Elasticsearch: every attempt with the consumer's backoff, as long
as it takes, and no longer than the worker is running (fake operations, no Elasticsearch)."""

from __future__ import annotations

import threading

import pytest

from eventing.retry import RetryPolicy
from search_indexer.index import IndexMissing, SearchUnavailable, retry_while_unavailable

QUICK = RetryPolicy(base_delay_s=0.001, max_delay_s=0.002)


class FakeFlakyOperation:
    """Unavailable for its first `failures` calls, then answers."""

    def __init__(self, failures: int, error: Exception | None = None):
        self.failures = failures
        self.error = error or SearchUnavailable("connection refused")
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "written"


def test_an_unavailable_elasticsearch_is_tried_again_until_it_answers():
    operation = FakeFlakyOperation(failures=25)
    assert retry_while_unavailable(operation, retry=QUICK) == "written"
    assert operation.calls == 26, "no attempt limit: an outage is waited out"


def test_a_missing_index_is_the_callers_to_recreate():
    operation = FakeFlakyOperation(failures=1, error=IndexMissing("alias points nowhere"))
    with pytest.raises(IndexMissing):
        retry_while_unavailable(operation, retry=QUICK)
    assert operation.calls == 1


def test_a_stopping_worker_ends_the_wait_with_the_last_error():
    stop = threading.Event()
    stop.set()
    operation = FakeFlakyOperation(failures=1_000)
    with pytest.raises(SearchUnavailable, match="connection refused"):
        retry_while_unavailable(operation, stop=stop, retry=QUICK)
    assert operation.calls == 1
