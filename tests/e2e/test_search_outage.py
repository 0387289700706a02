"""Search through an Elasticsearch outage: a node of its own (testkit.private_stack) killed with
kill -9 or frozen, and started again on the same data; the real faust indexer and the search
API under gunicorn pointed at it, on the shared Kafka under a topic namespace of their own.

What a storefront sees: a 503 problem+json with `Retry-After` within seconds while the node is
away, never a hang or a 500, and answers again once it is back, with no restart. What the
shop sees: every product changed meanwhile searchable at its latest version once the node is
back, nothing dead-lettered for the outage (nor committed before it was written, even by an
indexer stopped meanwhile), and poisoned messages dead-lettered as ever.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from contracts import inventory
from eventing import topics
from eventing.kafka_offsets import end_offsets
from eventing.producer import OutgoingMessage
from eventing.topics import all_topics, dead_letter_topic
from testkit.conditions import wait_for
from testkit.private_stack import PrivateServer, PrivateStack, private_stack
from testkit.scratch import scratch_topics
from testkit.search import Indexer
from tests.e2e.test_search import new_sku, product, skus
from tests.support.kafka_helpers import read_topic

# A node's start, beside other suites on 2 cores, took over 300 s (pytest's default bound),
# and each test may start one.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ANSWER_WITHIN_S = 10.0
"""The longest a storefront may wait for any answer while Elasticsearch is away."""
BACK_WITHIN_S = 180.0
"""How long a restarted node may take to answer searches again, on a loaded 2-core machine."""


@pytest.fixture(scope="module")
def stack() -> Iterator[PrivateStack]:
    with private_stack(["elasticsearch"]) as stack:
        yield stack


@pytest.fixture
def elasticsearch(stack) -> PrivateServer:
    return stack["elasticsearch"]


@pytest.fixture(scope="module")
def indexer(stack) -> Iterator[Indexer]:
    indexer = Indexer(elasticsearch_url=stack.elasticsearch_url)
    with scratch_topics(indexer.kafka, all_topics()):
        indexer.start()
        indexer.start_api()
        try:
            yield indexer
        finally:
            indexer.close()


@contextmanager
def killed(server: PrivateServer) -> Iterator[None]:
    """kill -9 the node for the block, then start it again on the same data."""
    server.kill()
    try:
        yield
    finally:
        server.up()


@contextmanager
def frozen(server: PrivateServer) -> Iterator[None]:
    server.freeze()
    try:
        yield
    finally:
        server.thaw()


def search(indexer: Indexer, **params: str) -> requests.Response:
    return requests.get(f"{indexer.api_url}/search", params=params, timeout=ANSWER_WITHIN_S * 3)


def timed_search(indexer: Indexer, **params: str) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = search(indexer, **params)
    return response, time.monotonic() - started


def assert_unavailable_problem(response: requests.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    problem = response.json()
    assert (problem["status"], problem["title"]) == (503, "Service Unavailable")
    assert "Elasticsearch" in problem["detail"]


def answers_again(indexer: Indexer, sku: str) -> bool:
    return search(indexer, q=sku).status_code == 200


def dead_letters(indexer: Indexer) -> int:
    dlq = dead_letter_topic(indexer.kafka.qualify(topics.PRODUCTS))
    return sum(end_offsets(indexer.kafka, [dlq])[dlq].values())


def searchable(indexer: Indexer, sku: str) -> None:
    indexer.publish(product(sku, 1, name=f"Kettle {sku}", kind=inventory.ProductCreated))
    indexer.wait_for(lambda: skus(indexer.search(q=sku)) == [sku], f"{sku} indexed")


def test_while_elasticsearch_is_killed_search_answers_503_quickly_and_200_once_it_is_back(
    elasticsearch, indexer
):
    sku = new_sku()
    searchable(indexer, sku)

    with killed(elasticsearch):
        for _ in range(3):
            response, elapsed = timed_search(indexer, q=sku)
            assert_unavailable_problem(response)
            assert elapsed < ANSWER_WITHIN_S
        ready = requests.get(f"{indexer.api_url}/readyz", timeout=ANSWER_WITHIN_S)
        assert ready.status_code == 503 and "elasticsearch" in ready.json()["detail"]
        assert requests.get(f"{indexer.api_url}/healthz", timeout=ANSWER_WITHIN_S).ok

    wait_for(lambda: answers_again(indexer, sku), BACK_WITHIN_S, "search to answer again")
    assert [item["sku"] for item in search(indexer, q=sku).json()["items"]] == [sku]
    assert requests.get(f"{indexer.api_url}/readyz", timeout=ANSWER_WITHIN_S).ok


def test_while_elasticsearch_is_frozen_search_answers_503_within_the_bound_too(
    elasticsearch, indexer
):
    sku = new_sku()
    searchable(indexer, sku)

    with frozen(elasticsearch):
        response, elapsed = timed_search(indexer, q=sku)
        assert_unavailable_problem(response)
        assert elapsed < ANSWER_WITHIN_S

    wait_for(lambda: answers_again(indexer, sku), BACK_WITHIN_S, "search to answer again")


def test_products_changed_while_elasticsearch_is_down_are_all_searchable_at_their_latest_version(
    elasticsearch, indexer
):
    existing = [new_sku() for _ in range(5)]
    indexer.publish(*[product(sku, 1, name=f"Old {sku}") for sku in existing])
    indexer.wait_for(lambda: indexer.caught_up(), "the existing products indexed")
    removed, *changed = existing
    added = [new_sku() for _ in range(5)]
    letters_before = dead_letters(indexer)
    log_before = len(indexer.log.read_bytes())

    with killed(elasticsearch):
        for version in (2, 3):
            indexer.publish(
                *[product(sku, version, name=f"New {sku} v{version}") for sku in changed]
            )
        indexer.publish(*[product(sku, 1, name=f"New {sku} v1") for sku in added])
        indexer.publish(inventory.ProductDeleted(sku=removed, version=2))
        wait_for(
            lambda: b"attempt 3 failed" in indexer.log.read_bytes()[log_before:],
            ANSWER_WITHIN_S * 6,
            "the indexer to retry the batch while Elasticsearch is down",
        )
        assert indexer.process is not None and indexer.process.poll() is None, "it waits"
        assert not indexer.caught_up(), "no offset moved past what was not written"

        indexer.stop()  # SIGTERM mid-wait: it stops within the bound, committing nothing
        assert not indexer.caught_up()
        indexer.start()

    latest = {sku: f"New {sku} v3" for sku in changed} | {sku: f"New {sku} v1" for sku in added}

    def all_at_their_latest_version() -> bool:
        documents = indexer.index.all_documents()
        return removed not in documents and all(
            documents.get(sku, {}).get("name") == name for sku, name in latest.items()
        )

    indexer.wait_for(all_at_their_latest_version, "the indexer to catch up", BACK_WITHIN_S)
    indexer.wait_for(indexer.caught_up, "every offset committed")
    assert dead_letters(indexer) == letters_before
    assert sorted(skus(indexer.search(q="New", page_size="100"))) == sorted(latest)


def test_a_poisoned_message_still_goes_to_the_dead_letter_topic(indexer):
    products = indexer.kafka.qualify(topics.PRODUCTS)
    assert dead_letters(indexer) == 0
    indexer.publisher.publish([OutgoingMessage(products, b"POISON", b"not an envelope")])
    after = new_sku()
    searchable(indexer, after)  # the poisoned message holds nothing back

    [letter] = read_topic(indexer.kafka, dead_letter_topic(products), expected=1)
    assert letter.value() == b"not an envelope"
    headers = {name: value.decode() for name, value in letter.headers() or []}
    assert headers["dlq.original.topic"] == products
    assert headers["dlq.error.class"] == "UndecodableMessage"
