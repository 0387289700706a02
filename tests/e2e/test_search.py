"""Search end to end: inventory's product events on real Kafka, the real faust indexer process,
real Elasticsearch, and the search API."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import urlparse

import pytest

from contracts import inventory
from eventing.topics import all_topics
from search_indexer.rebuild import rebuild
from testkit.scratch import scratch_topics
from testkit.search import Indexer
from testkit.shop import REPO
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def indexer():
    indexer = Indexer()
    with scratch_topics(indexer.kafka, all_topics()):
        indexer.start()
        try:
            yield indexer
        finally:
            indexer.close()


def product(
    sku: str,
    version: int,
    *,
    name="Copper kettle",
    category="kitchen",
    price=4500,
    available=5,
    kind=inventory.ProductUpdated,
    **extra,
):
    return kind(
        sku=sku,
        version=version,
        name=name,
        description="Boils water quickly",
        category=category,
        price_cents=price,
        attributes={},
        stock_on_hand=available,
        stock_reserved=0,
        stock_available=available,
        **extra,
    )


def new_sku() -> str:
    return f"S-{uuid.uuid4().hex[:8].upper()}"


def skus(result: dict) -> list[str]:
    return [item["sku"] for item in result["items"]]


def test_a_product_is_searchable_through_each_change_until_it_is_deleted(indexer):
    sku = new_sku()
    indexer.publish(product(sku, 1, name=f"Copper kettle {sku}", kind=inventory.ProductCreated))
    indexer.wait_for(lambda: sku in skus(indexer.search(q=sku)), "created")

    indexer.publish(product(sku, 2, name=f"Steel teapot {sku}"))
    indexer.wait_for(lambda: skus(indexer.search(q=f"teapot {sku}")) == [sku], "renamed")
    assert skus(indexer.search(q=f"copper {sku}")) == []

    indexer.publish(
        product(
            sku,
            3,
            name=f"Steel teapot {sku}",
            available=0,
            kind=inventory.StockChanged,
            reason="RESERVED",
        )
    )
    indexer.wait_for(lambda: indexer.search(q=sku)["items"][0]["in_stock"] is False, "out of stock")
    assert skus(indexer.search(q=sku, in_stock="true")) == []

    indexer.publish(inventory.ProductDeleted(sku=sku, version=4))
    indexer.wait_for(lambda: skus(indexer.search(q=sku)) == [], "deleted")


def test_events_replayed_twice_or_out_of_order_leave_the_newest_state(indexer):
    sku = new_sku()
    history = [
        product(
            sku,
            v,
            name=f"Kettle {sku} v{v}",
            kind=inventory.ProductCreated if v == 1 else inventory.ProductUpdated,
        )
        for v in range(1, 5)
    ]
    indexer.publish(*history)
    indexer.publish(*reversed(history))  # the same events again, newest first
    indexer.publish(*history[:2])
    indexer.wait_for(indexer.caught_up, "every event indexed")
    indexer.index.refresh()
    assert indexer.search(q=sku)["items"][0]["name"] == f"Kettle {sku} v4"


def test_a_typo_still_finds_the_product_and_facets_count_categories(indexer):
    tag = uuid.uuid4().hex[:6]
    events = [
        product(new_sku(), 1, name=f"Enamel kettle {tag}", category="kitchen"),
        product(new_sku(), 1, name=f"Glass kettle {tag}", category="kitchen"),
        product(new_sku(), 1, name=f"Garden kettle {tag}", category="garden", price=9000),
    ]
    indexer.publish(*events)
    indexer.wait_for(lambda: indexer.search(q=tag)["total"] == 3, "indexed")
    typo = indexer.search(q=f"kettel {tag}")
    assert typo["total"] == 3
    assert {f["value"]: f["count"] for f in typo["facets"]["category"]} == {
        "kitchen": 2,
        "garden": 1,
    }
    narrowed = indexer.search(q=tag, category="garden")
    assert (narrowed["total"], len(narrowed["facets"]["category"])) == (1, 2), (
        "facets still show the other category"
    )
    cheap_first = indexer.search(q=tag, sort="price_desc")
    assert cheap_first["items"][0]["price_cents"] == 9000
    assert indexer.search(q=tag, max_price_cents=5000)["total"] == 2


def test_a_rebuild_while_searching_answers_throughout_and_matches_the_live_index(indexer):
    tag = uuid.uuid4().hex[:6]
    indexer.publish(*[product(new_sku(), 1, name=f"Rebuild item {tag} {n}") for n in range(30)])
    indexer.wait_for(lambda: indexer.search(q=tag)["total"] == 30, "indexed")
    before = indexer.index.all_documents()
    answers: list[int] = []
    done = threading.Event()

    def keep_searching() -> None:
        while not done.is_set():
            answers.append(indexer.search(q=tag)["total"])

    searcher = threading.Thread(target=keep_searching)
    searcher.start()
    try:
        report = rebuild(indexer.kafka, indexer.index)
    finally:
        done.set()
        searcher.join(10)
    assert answers and min(answers) == 30, "search kept answering during the rebuild"
    assert indexer.index.indices_behind_alias() == [report.new_index]
    assert indexer.index.all_documents() == before


def test_an_indexer_stopped_while_products_change_catches_up_when_started(indexer):
    sku = new_sku()
    indexer.publish(product(sku, 1, name=f"Paused {sku}", kind=inventory.ProductCreated))
    indexer.wait_for(lambda: skus(indexer.search(q=sku)) == [sku], "indexed")
    indexer.stop()
    try:
        indexer.publish(product(sku, 2, name=f"Resumed {sku}", price=999))
        indexer.index.refresh()
        assert indexer.search(q=sku)["items"][0]["name"] == f"Paused {sku}"
    finally:
        indexer.start()
    indexer.wait_for(
        lambda: indexer.search(q=sku)["items"][0]["name"] == f"Resumed {sku}",
        "caught up",
        timeout_s=60,
    )


def test_a_lost_index_is_restored_identically_by_shopctl_search_rebuild(indexer):
    tag = uuid.uuid4().hex[:6]
    indexer.publish(*[product(new_sku(), 1, name=f"Drill item {tag} {n}") for n in range(10)])
    indexer.wait_for(lambda: indexer.search(q=tag)["total"] == 10, "indexed")
    before = indexer.index.all_documents()
    for name in indexer.index.indices_behind_alias():
        indexer.index.delete_index(name)  # the search cluster lost its data
    assert indexer.search(q=tag)["total"] == 0
    late = product(new_sku(), 1, name=f"Drill item {tag} late")
    indexer.publish(late)  # the live indexer recreates the index instead of dead-lettering
    indexer.wait_for(lambda: indexer.search(q=tag)["total"] == 1, "index recreated")

    result = subprocess.run(
        [sys.executable, "-m", "shopctl", "search", "rebuild"],
        cwd=REPO,
        env=indexer.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "rebuilt" in result.stdout
    indexer.index.refresh()
    assert indexer.index.all_documents() == before | {
        late.sku: indexer.index.all_documents()[late.sku]
    }
    assert indexer.search(q=tag)["total"] == 11


def test_an_indexer_cut_off_from_elasticsearch_loses_nothing_even_if_it_crashes_meanwhile():
    indexer = Indexer()
    proxy = TcpProxy(urlparse(indexer.settings.elasticsearch_url).port)
    proxy.start()
    indexer.env["SEARCH_ELASTICSEARCH_URL"] = proxy.url
    with scratch_topics(indexer.kafka, all_topics()):
        indexer.start()
        try:
            first = new_sku()
            indexer.publish(
                product(first, 1, name=f"Before {first}", kind=inventory.ProductCreated)
            )
            indexer.wait_for(lambda: skus(indexer.search(q=first)) == [first], "indexed")

            proxy.cut()  # Elasticsearch is unreachable for the indexer
            during = [new_sku() for _ in range(5)]
            indexer.publish(*[product(sku, 1, name=f"During {sku}") for sku in during])
            time.sleep(3)
            assert indexer.process.poll() is None, "the indexer waits, it does not crash"
            indexer.index.refresh()
            assert indexer.search(q="During")["total"] == 0

            indexer.kill()  # and crashes while waiting: its offsets must not have moved on
            proxy.start()
            indexer.start()
            indexer.wait_for(
                lambda: indexer.search(q="During")["total"] == 5, "caught up", timeout_s=60
            )
        finally:
            indexer.close()
            proxy.cut()
