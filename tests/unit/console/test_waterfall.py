"""A Jaeger trace drawn as a waterfall (console.waterfall, console.search_lag): tree order,
placement on the time axis, colours per service, links, events, and the critical path."""

from __future__ import annotations

import pytest

from console.search_lag import change_lags, percentile
from console.waterfall import MalformedTrace, build_waterfall, summarise

TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER_TRACE = "1bf7651916cd43dd8448eb211c80319d"
MS = 1000
START = 1_790_000_000_000_000


def span(span_id, service, operation, start_ms, duration_ms, parent=None, **extra):
    references = [{"refType": "CHILD_OF", "traceID": TRACE, "spanID": parent}] if parent else []
    return {
        "traceID": TRACE,
        "spanID": span_id,
        "operationName": operation,
        "references": references + extra.pop("references", []),
        "startTime": START + int(start_ms * MS),
        "duration": int(duration_ms * MS),
        "processID": service,
        "tags": extra.pop("tags", []),
        "logs": extra.pop("logs", []),
    }


def jaeger_trace(*spans):
    services = {s["processID"] for s in spans}
    return {
        "traceID": TRACE,
        "spans": list(spans),
        "processes": {name: {"serviceName": name, "tags": []} for name in services},
    }


def checkout():
    """POST /orders, its publish, the saga's process and publish, inventory's process; and a
    side call during the POST that nothing waited on."""
    return jaeger_trace(
        span("a", "order-service", "POST /orders", 0, 10),
        span("side", "order-service", "SELECT", 7, 2.5, parent="a"),
        span("b", "order-service", "orders.orders publish", 8, 1, parent="a"),
        span(
            "c",
            "checkout-saga",
            "orders.orders process",
            20,
            10,
            parent="b",
            tags=[{"key": "order.id", "type": "string", "value": "o-1"}],
            logs=[
                {
                    "timestamp": START + 25 * MS,
                    "fields": [
                        {"key": "event", "value": "saga.timeout"},
                        {"key": "saga.step", "value": "reserve_stock"},
                    ],
                }
            ],
        ),
        span("d", "checkout-saga", "inventory.commands publish", 28, 1, parent="c"),
        span(
            "e",
            "inventory-service",
            "inventory.commands process",
            40,
            20,
            parent="d",
            references=[{"refType": "FOLLOWS_FROM", "traceID": OTHER_TRACE, "spanID": "batch"}],
            tags=[{"key": "otel.status_code", "value": "ERROR"}],
        ),
    )


def test_spans_come_in_tree_order_each_placed_on_the_traces_time_axis():
    waterfall = build_waterfall(checkout())
    assert [(row.span_id, row.depth) for row in waterfall.rows] == [
        ("a", 0),
        ("side", 1),
        ("b", 1),
        ("c", 2),
        ("d", 3),
        ("e", 4),
    ]
    assert waterfall.duration_us == 60 * MS
    e = waterfall.rows[-1]
    assert (e.offset_pct, e.width_pct) == (pytest.approx(66.667), pytest.approx(33.333))
    tiny = build_waterfall(jaeger_trace(span("x", "s", "op", 0, 1000), span("y", "s", "op", 1, 0)))
    assert tiny.rows[1].width_pct == 0.2, "a span too short to see still gets a sliver"


def test_each_service_has_its_own_colour_in_order_of_appearance():
    waterfall = build_waterfall(checkout())
    assert list(waterfall.services) == ["order-service", "checkout-saga", "inventory-service"]
    assert len(set(waterfall.services.values())) == 3
    assert all(row.colour == waterfall.services[row.service] for row in waterfall.rows)


def test_the_critical_path_follows_what_the_end_of_the_trace_waited_on():
    waterfall = build_waterfall(checkout())
    assert [row.span_id for row in waterfall.critical_path] == ["a", "b", "c", "d", "e"]


def test_a_sequential_predecessor_is_on_the_critical_path_an_overlapping_sibling_is_not():
    trace = jaeger_trace(
        span("root", "s", "root", 0, 100),
        span("first", "s", "first", 0, 30, parent="root"),
        span("overlap", "s", "overlap", 35, 40, parent="root"),
        span("last", "s", "last", 50, 50, parent="root"),
    )
    critical = {row.span_id for row in build_waterfall(trace).critical_path}
    assert critical == {"root", "first", "last"}


def test_attributes_events_and_links_to_other_traces_are_kept_with_their_span():
    rows = {row.span_id: row for row in build_waterfall(checkout()).rows}
    assert rows["c"].attributes["order.id"] == "o-1"
    [event] = rows["c"].events
    assert (event.name, event.offset_us, event.attributes) == (
        "saga.timeout",
        5 * MS,
        {"saga.step": "reserve_stock"},
    )
    [link] = rows["e"].links
    assert (link.trace_id, link.span_id, link.kind, link.same_trace) == (
        OTHER_TRACE,
        "batch",
        "FOLLOWS_FROM",
        False,
    )
    assert rows["e"].is_error and not rows["c"].is_error


def test_a_span_whose_parent_is_missing_becomes_a_root_instead_of_vanishing():
    trace = jaeger_trace(span("a", "s", "a", 0, 5), span("orphan", "s", "b", 1, 1, parent="gone"))
    waterfall = build_waterfall(trace)
    assert [(row.span_id, row.depth, row.parent_id) for row in waterfall.rows] == [
        ("a", 0, None),
        ("orphan", 0, None),
    ]


def test_what_is_not_a_trace_is_refused_with_a_reason():
    with pytest.raises(MalformedTrace, match="missing"):
        build_waterfall({"spans": []})
    with pytest.raises(MalformedTrace, match="no spans"):
        build_waterfall({"traceID": TRACE, "spans": []})


def test_a_search_result_names_the_first_span_its_services_and_errors():
    summary = summarise(checkout())
    assert summary.root == "order-service: POST /orders"
    assert (summary.spans, summary.errors, summary.duration_us) == (6, 1, 60 * MS)
    assert summary.services == ["order-service", "checkout-saga", "inventory-service"]


def product_change(trace_id: str, start_ms: float, indexed_after_ms: float) -> dict:
    trace = jaeger_trace(
        span("patch", "inventory-service", "PATCH /products/<sku>", start_ms, 5),
        span(
            "publish",
            "inventory-service",
            "inventory.products publish",
            start_ms + 3,
            1,
            parent="patch",
        ),
        span(
            "indexed",
            "search-indexer",
            "inventory.products process",
            start_ms + indexed_after_ms - 2,
            2,
            parent="publish",
            tags=[{"key": "messaging.kafka.message.key", "value": "SKU-1"}],
        ),
    )
    trace["traceID"] = trace_id
    for each in trace["spans"]:
        each["traceID"] = trace_id
        for reference in each["references"]:
            reference["traceID"] = trace_id
    return trace


def test_search_lag_runs_from_the_change_to_the_indexers_write_newest_change_first():
    batch_only = jaeger_trace(span("batch", "search-indexer", "inventory.products process", 0, 3))
    lags = change_lags([product_change("t1", 0, 300), product_change("t2", 1000, 150), batch_only])
    assert [(lag.trace_id, lag.lag_us, lag.product) for lag in lags] == [
        ("t2", 150 * MS, "SKU-1"),
        ("t1", 300 * MS, "SKU-1"),
    ]
    assert lags[0].change == "inventory-service: PATCH /products/<sku>"


def test_percentiles_of_the_lags():
    assert percentile([], 0.5) is None
    assert percentile([30, 10, 20], 0.5) == 20
    assert percentile(list(range(1, 101)), 0.99) == 99
