"""Search: how long the latest product changes took to reach the search index."""

from __future__ import annotations

from flask import Blueprint

from console.jaeger import JaegerUnavailable, TraceQuery
from console.pages.common import jaeger
from console.rendering import render
from console.search_lag import INDEXER_SERVICE, change_lags, percentile
from console.waterfall import MalformedTrace

blueprint = Blueprint("search_lag", __name__, url_prefix="/search")
#: How many of the indexer's latest traces to read.
SEARCHED = 50


@blueprint.get("")
def page() -> tuple[str, int]:
    try:
        traces = jaeger().search(TraceQuery(INDEXER_SERVICE, limit=SEARCHED))
        lags = change_lags(traces)
        error = None
    except (JaegerUnavailable, MalformedTrace) as failure:
        lags, error = [], str(failure)
    values = [lag.lag_us for lag in lags]
    return render(
        "search_lag.html",
        lags=lags,
        error=error,
        searched=SEARCHED,
        p50=percentile(values, 0.5),
        p99=percentile(values, 0.99),
    ), (503 if error else 200)
