"""The search API of the storefront contract (port 8003)."""

from __future__ import annotations

from flask import Flask

from search_indexer.config import Settings, load_settings
from search_indexer.index import ProductIndex, client
from search_indexer.query import SearchQuery, SearchResult, es_request, result_from
from servicekit.api import Api
from servicekit.app import create_service_app
from servicekit.observability import setup_observability


def build_app(settings: Settings, index: ProductIndex) -> Flask:
    api = Api(
        "search-api",
        "Product search",
        description="Full-text product search with typo tolerance, filters and facets.",
    )

    @api.operation(
        "GET",
        "/search",
        summary="Search products",
        query=SearchQuery,
        responses={
            200: SearchResult,
            422: "invalid values, min_price_cents above max_price_cents, or a page ending "
            "beyond the first 10,000 hits",
        },
    )
    def search(query: SearchQuery) -> SearchResult:
        return result_from(index.search(es_request(query)))

    def elasticsearch_ready() -> None:
        index.es.cluster.health(timeout="2s")

    return create_service_app(api, {"elasticsearch": elasticsearch_ready})


def create_app() -> Flask:
    settings = load_settings()
    setup_observability("search-indexer", settings.log_level)
    return build_app(
        settings, ProductIndex(client(settings.elasticsearch_url), settings.index_alias)
    )
