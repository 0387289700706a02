"""Search documents and queries, without Elasticsearch."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts import inventory
from search_indexer.documents import bulk_action, latest_per_product
from search_indexer.query import SearchQuery, es_request, result_from


def state(version: int, *, available: int = 3, name: str = "Blue mug") -> inventory.ProductUpdated:
    return inventory.ProductUpdated(
        sku="MUG-1",
        version=version,
        name=name,
        description="A mug",
        category="kitchen",
        price_cents=1200,
        attributes={},
        stock_on_hand=available,
        stock_reserved=0,
        stock_available=available,
    )


def test_every_write_carries_the_product_version_as_an_external_version():
    action = bulk_action(state(7), "products")
    assert (action["_op_type"], action["_id"], action["version"], action["version_type"]) == (
        "index",
        "MUG-1",
        7,
        "external",
    )
    assert action["_source"]["in_stock"] is True


def test_a_product_with_nothing_available_is_out_of_stock():
    assert bulk_action(state(2, available=0), "products")["_source"]["in_stock"] is False


def test_a_deletion_is_a_versioned_delete():
    action = bulk_action(inventory.ProductDeleted(sku="MUG-1", version=9), "products")
    assert (action["_op_type"], action["version"]) == ("delete", 9)
    assert "_source" not in action


def test_a_batch_keeps_only_each_products_newest_event_whatever_the_arrival_order():
    newest = latest_per_product([state(3, name="c"), state(5, name="e"), state(4, name="d")])
    assert [(e.version, e.name) for e in newest] == [(5, "e")]


def test_a_text_query_is_fuzzy_over_name_and_description_and_filters_combine():
    request = es_request(
        SearchQuery(
            q="mgu",
            min_price_cents=100,
            max_price_cents=2000,
            in_stock=True,
            category="kitchen",
            page=2,
            page_size=10,
        )
    )
    match = request["query"]["bool"]["must"][0]["multi_match"]
    assert (match["fuzziness"], match["fields"]) == ("AUTO", ["name^3", "description"])
    assert {"range": {"price_cents": {"gte": 100, "lte": 2000}}} in request["query"]["bool"][
        "filter"
    ]
    assert request["post_filter"] == {"term": {"category": "kitchen"}}, "facets ignore it"
    assert (request["from"], request["size"]) == (10, 10)


@pytest.mark.parametrize(
    ("sort", "first"),
    [
        ("price_asc", {"price_cents": "asc"}),
        ("price_desc", {"price_cents": "desc"}),
        ("relevance", "_score"),
    ],
)
def test_sort_orders(sort, first):
    assert es_request(SearchQuery(sort=sort))["sort"][0] == first


def test_an_inverted_price_range_is_refused():
    with pytest.raises(ValidationError):
        SearchQuery(min_price_cents=500, max_price_cents=100)


def test_no_index_yet_means_no_results_rather_than_an_error():
    assert result_from(None).model_dump() == {"total": 0, "items": [], "facets": {"category": []}}
