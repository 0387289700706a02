"""The storefront's search: request parameters to an Elasticsearch query, and back (pure).

Facets count what the query and the other filters match, ignoring the category filter itself
(it is a post filter), so a storefront can show every category a shopper could switch to.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from servicekit.fields import MAX_PAGE_SIZE, Text

RESULT_WINDOW = 10_000
"""Elasticsearch's `index.max_result_window`: no page may end beyond this many hits."""
LONG_MAX = 2**63 - 1
"""The largest `long`, Elasticsearch's type of `price_cents`."""
Price = Annotated[int, Field(ge=0, le=LONG_MAX)]


class SearchQuery(BaseModel):
    """The search parameters. Two rules span parameters, so the schema cannot carry them (422):
    `min_price_cents` at most `max_price_cents`, and `page * page_size` at most 10,000."""

    model_config = ConfigDict(extra="forbid")

    q: Annotated[Text, Field(max_length=200)] = Field(
        default="", description="words to find in name and description"
    )
    category: Annotated[Text, Field(max_length=100)] | None = Field(
        default=None, description="only this category"
    )
    min_price_cents: Price | None = None
    max_price_cents: Price | None = Field(
        default=None, description="at least min_price_cents, when both are given"
    )
    in_stock: bool | None = Field(default=None, description="true: only products in stock")
    sort: Literal["relevance", "price_asc", "price_desc"] = "relevance"
    page: int = Field(
        default=1,
        ge=1,
        le=RESULT_WINDOW,
        description=f"1 is the first; page * page_size at most {RESULT_WINDOW}",
    )
    page_size: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE)

    @model_validator(mode="after")
    def _price_range(self) -> SearchQuery:
        low, high = self.min_price_cents, self.max_price_cents
        if low is not None and high is not None and low > high:
            raise ValueError("min_price_cents must not exceed max_price_cents")
        return self

    @model_validator(mode="after")
    def _within_result_window(self) -> SearchQuery:
        if self.page * self.page_size > RESULT_WINDOW:
            raise ValueError(
                f"page {self.page} of {self.page_size} would end at hit "
                f"{self.page * self.page_size}; Elasticsearch pages through the first "
                f"{RESULT_WINDOW} hits only, so narrow the search instead"
            )
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
    sort_orders: dict[str, list[Any]] = {
        "relevance": ["_score", {"sku": "asc"}],
        "price_asc": [{"price_cents": "asc"}, {"sku": "asc"}],
        "price_desc": [{"price_cents": "desc"}, {"sku": "asc"}],
    }
    sort = sort_orders[query.sort]
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
