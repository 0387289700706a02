"""The local stack's Elasticsearch is real: the official client (which insists on the
`X-Elastic-Product` header only Elasticsearch sends) indexes, searches and swaps aliases."""

from __future__ import annotations

import os
import uuid

import pytest
from elasticsearch import ConflictError, Elasticsearch
from elasticsearch.helpers import bulk

pytestmark = pytest.mark.integration
WORDS = ["espresso", "cup", "kettle", "teapot", "saucer", "grinder", "filter", "mug"]


@pytest.fixture(scope="module")
def es():
    client = Elasticsearch(
        os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200"), request_timeout=30
    )
    yield client
    client.close()


@pytest.fixture
def index(es):
    name = f"test-{uuid.uuid4().hex[:12]}"
    es.indices.create(
        index=name,
        settings={"number_of_shards": 1, "number_of_replicas": 0},
        mappings={
            "dynamic": "strict",
            "properties": {
                "name": {"type": "text"},
                "category": {"type": "keyword"},
                "price_cents": {"type": "long"},
            },
        },
    )
    yield name
    es.indices.delete(index=[name, f"{name}-v2"], ignore_unavailable=True)


def test_the_cluster_is_healthy_and_is_elasticsearch_8(es):
    assert es.cluster.health()["status"] in ("green", "yellow")
    [node] = es.nodes.info()["nodes"].values()  # GET / needs the rest-root module; see README
    assert node["version"].startswith("8.")


def test_a_thousand_documents_bulk_indexed_are_found_by_a_fuzzy_query_with_facets(es, index):
    actions = [
        {
            "_index": index,
            "_id": str(n),
            "_source": {
                "name": f"{WORDS[n % len(WORDS)]} number {n}",
                "category": f"cat-{n % 5}",
                "price_cents": 100 + n,
            },
        }
        for n in range(1000)
    ]
    indexed, errors = bulk(es, actions, refresh="wait_for")
    assert (indexed, errors) == (1000, [])
    response = es.search(
        index=index,
        query={"match": {"name": {"query": "expresso", "fuzziness": "AUTO"}}},
        aggs={"category": {"terms": {"field": "category"}}},
        size=3,
    )
    assert response["hits"]["total"]["value"] == 125  # every 8th document is an espresso
    assert all("espresso" in hit["_source"]["name"] for hit in response["hits"]["hits"])
    buckets = {b["key"]: b["doc_count"] for b in response["aggregations"]["category"]["buckets"]}
    assert sum(buckets.values()) == 125 and len(buckets) == 5


def test_an_alias_moves_to_a_new_index_atomically(es, index):
    alias, successor = f"{index}-alias", f"{index}-v2"
    es.indices.create(index=successor)
    es.indices.put_alias(index=index, name=alias)
    es.index(index=successor, id="1", document={"name": "new"}, refresh="wait_for")
    es.indices.update_aliases(
        actions=[
            {"remove": {"index": index, "alias": alias}},
            {"add": {"index": successor, "alias": alias}},
        ]
    )
    assert list(es.indices.get_alias(name=alias)) == [successor]
    assert es.search(index=alias)["hits"]["hits"][0]["_source"] == {"name": "new"}


def test_external_versions_keep_only_the_newest_document(es, index):
    document = {"name": "p", "category": "c"}
    es.index(
        index=index,
        id="p",
        version=3,
        version_type="external",
        document=document | {"price_cents": 300},
        refresh=True,
    )
    with pytest.raises(ConflictError):
        es.index(
            index=index,
            id="p",
            version=2,
            version_type="external",
            document=document | {"price_cents": 200},
        )
    assert es.get(index=index, id="p")["_source"]["price_cents"] == 300
