"""The storefront's search: request parameters to an Elasticsearch query, and back (pure).

Facets count what the query and the other filters match, ignoring the category filter itself
(it is a post filter), so a storefront can show every category a shopper could switch to.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(default="", max_length=200, description="words to find in name and description")
    category: str | None = Field(default=None, description="only this category")
    min_price_cents: int | None = Field(default=None, ge=0)
    max_price_cents: int | None = Field(default=None, ge=0)
    in_stock: bool | None = Field(default=None, description="true: only products in stock")
    sort: Literal["relevance", "price_asc", "price_desc"] = "relevance"
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=20, ge=1, le=100)

    @model_validator(mode="after")
    def _price_range(self) -> SearchQuery:
        low, high = self.min_price_cents, self.max_price_cents
        if low is not None and high is not None and low > high:
            raise ValueError("min_price_cents must not exceed max_price_cents")
        return self


class SearchItem(BaseModel):
    sku: str
    name: str
    category: str
    price_cents: int
    in_stock: bool
    score: float | None


class FacetValue(BaseModel):
    value: str
    count: int


class SearchResult(BaseModel):
    total: int
    items: list[SearchItem]
    facets: dict[str, list[FacetValue]]


def es_request(query: SearchQuery) -> dict[str, Any]:
    text = query.q.strip()
    must: list[dict[str, Any]] = (
        [
            {
                "multi_match": {
                    "query": text,
                    "fields": ["name^3", "description"],
                    "fuzziness": "AUTO",
                    "prefix_length": 1,
                    "operator": "and",
                }
            }
        ]
        if text
        else [{"match_all": {}}]
    )
    filters: list[dict[str, Any]] = []
    price: dict[str, int] = {}
    if query.min_price_cents is not None:
        price["gte"] = query.min_price_cents
    if query.max_price_cents is not None:
        price["lte"] = query.max_price_cents
    if price:
        filters.append({"range": {"price_cents": price}})
    if query.in_stock is not None:
        filters.append({"term": {"in_stock": query.in_stock}})
    sort: list[Any] = {
        "relevance": ["_score", {"sku": "asc"}],
        "price_asc": [{"price_cents": "asc"}, {"sku": "asc"}],
        "price_desc": [{"price_cents": "desc"}, {"sku": "asc"}],
    }[query.sort]
    request: dict[str, Any] = {
        "query": {"bool": {"must": must, "filter": filters}},
        "aggs": {"category": {"terms": {"field": "category", "size": 50}}},
        "sort": sort,
        "from": (query.page - 1) * query.page_size,
        "size": query.page_size,
        "track_total_hits": True,
        "track_scores": True,
    }
    if query.category:
        request["post_filter"] = {"term": {"category": query.category}}
    return request


def result_from(response: dict[str, Any] | None) -> SearchResult:
    if response is None:
        return SearchResult(total=0, items=[], facets={"category": []})
    hits = response["hits"]
    return SearchResult(
        total=hits["total"]["value"],
        items=[
            SearchItem(
                sku=hit["_source"]["sku"],
                name=hit["_source"]["name"],
                category=hit["_source"]["category"],
                price_cents=hit["_source"]["price_cents"],
                in_stock=hit["_source"]["in_stock"],
                score=hit.get("_score"),
            )
            for hit in hits["hits"]
        ],
        facets={
            "category": [
                FacetValue(value=b["key"], count=b["doc_count"])
                for b in response["aggregations"]["category"]["buckets"]
            ]
        },
    )
