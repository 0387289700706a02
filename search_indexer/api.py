"""The search API of the storefront contract (port 8003), built from the settings and index it
is given; gunicorn serves it as `servicekit.deployable:create_app('search_indexer')`."""

from __future__ import annotations

import logging

from flask import Flask

from search_indexer.config import Settings
from search_indexer.index import ProductIndex, SearchUnavailable, client
from search_indexer.query import SearchQuery, SearchResult, es_request, result_from
from servicekit.api import Api
from servicekit.app import create_service_app
from servicekit.problems import unavailable

log = logging.getLogger(__name__)


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
        try:
            return result_from(index.search(es_request(query)))
        except SearchUnavailable as error:
            log.warning("answering 503: %s", error)
            raise unavailable(
                "search is briefly unavailable: Elasticsearch is down or not ready; retry",
                retry_after_s=settings.api_retry_after_s,
            ) from error

    return create_service_app(api, {"elasticsearch": index.check_health})


def api_index(settings: Settings) -> ProductIndex:
    """The index as the API reads it: each request bounded by `api_timeout_s`, never retried
    (the storefront gets its 503 at once and retries when it chooses)."""
    es = client(settings.elasticsearch_url, request_timeout_s=settings.api_timeout_s)
    return ProductIndex(es, settings.index_alias)
