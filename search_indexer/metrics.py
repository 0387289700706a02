"""Search indexing lag: for each product change the indexer wrote, the time from the change's
commit in the inventory service (its event's `occurred_at`, set in the writing transaction)
to the end of the bulk write that put it into the index. Elasticsearch makes it searchable at
its next refresh (every second by default), so searchable is at most that much later. The
indexer's applied messages count as `consumer.messages.processed` like every consumer's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from opentelemetry import metrics

from eventing.envelope import Envelope, utc_now
from eventing.errors import PoisonMessage
from eventing.metrics import message_processed

if TYPE_CHECKING:
    from search_indexer.indexer import Record

_indexing_lag = metrics.get_meter("search_indexer").create_histogram(
    "search.indexing.lag",
    unit="s",
    description="time from a product change's commit to its write into the search index",
)


def records_indexed(
    group: str, records: Sequence[Record], dead_lettered: Mapping[tuple[int, int], str]
) -> None:
    """Record the lag of every record of a written batch but those dead-lettered."""
    now = utc_now()
    for record in records:
        if record.position in dead_lettered:
            continue
        message_processed(group, record.topic)
        try:
            occurred_at = Envelope.from_bytes(record.value).occurred_at
        except PoisonMessage:
            continue
        _indexing_lag.record(max((now - occurred_at).total_seconds(), 0.0))
