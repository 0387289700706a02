"""Search lag: for the latest product changes, the time from the change (the trace's first
span, e.g. `PATCH /products/{sku}` in the inventory service) to the search indexer's write of it
(the end of the indexer's `process` span in the change's own trace). Pure: reads Jaeger's JSON.

The indexer writes a batch, then the index refreshes (Elasticsearch's refresh interval, 1 s by
default) before a search finds it: the page says "indexed", which is the part the shop owns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from console.waterfall import build_waterfall

INDEXER_SERVICE = "search-indexer"


@dataclass(frozen=True)
class ChangeLag:
    trace_id: str
    change: str
    """`service: operation` of the span that made the change."""
    product: str
    """The message key of the product event (its sku)."""
    changed_at_us: int
    lag_us: int


def change_lags(traces: Iterable[Mapping[str, Any]]) -> list[ChangeLag]:
    """One per trace holding both a change and the indexer's part of it, newest first."""
    lags = []
    for trace in traces:
        waterfall = build_waterfall(trace)
        indexed = [row for row in waterfall.spans_of(INDEXER_SERVICE) if row.parent_id is not None]
        origin = min(waterfall.rows, key=lambda row: row.start_us)
        if not indexed or origin.service == INDEXER_SERVICE:
            continue
        last = max(indexed, key=lambda row: row.end_us)
        lags.append(
            ChangeLag(
                trace_id=waterfall.trace_id,
                change=f"{origin.service}: {origin.operation}",
                product=str(last.attributes.get("messaging.kafka.message.key", "?")),
                changed_at_us=origin.start_us,
                lag_us=last.end_us - origin.start_us,
            )
        )
    return sorted(lags, key=lambda lag: lag.changed_at_us, reverse=True)


def percentile(values: list[int], fraction: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]
