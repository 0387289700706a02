"""A trace as a waterfall: Jaeger's JSON (the query API's `/api/traces/{id}`) into rows of
spans in tree order, placed on the trace's time axis, with services coloured and the critical
path marked. Pure: no I/O.

The critical path is the chain of spans that the trace's end waited on: from the root's end
going back, the child that finished last, then (before that child started) the one that
finished last before it, and so on, recursively. Kafka hops make children that outlive their
parent (a publish span ends before its consumer's span starts), so a span's reach, the end of
its latest descendant, stands for its end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Colours for services, in order of first appearance in the trace (readable on white).
PALETTE = (
    "#2f6fb3",
    "#c2571a",
    "#2e8b57",
    "#8e44ad",
    "#b8860b",
    "#c0392b",
    "#16838f",
    "#6d4c41",
)


class MalformedTrace(ValueError):
    """Jaeger answered with something that is not a trace."""


@dataclass(frozen=True)
class SpanLink:
    trace_id: str
    span_id: str
    kind: str
    """CHILD_OF or FOLLOWS_FROM, as Jaeger names the reference."""
    same_trace: bool


@dataclass(frozen=True)
class SpanEvent:
    offset_us: int
    """From the span's start."""
    name: str
    attributes: dict[str, Any]


@dataclass
class SpanRow:
    span_id: str
    parent_id: str | None
    service: str
    operation: str
    start_us: int
    duration_us: int
    attributes: dict[str, Any]
    events: list[SpanEvent]
    links: list[SpanLink]
    depth: int = 0
    colour: str = PALETTE[0]
    offset_pct: float = 0.0
    width_pct: float = 0.0
    critical: bool = False
    children: list[str] = field(default_factory=list)

    @property
    def end_us(self) -> int:
        return self.start_us + self.duration_us

    @property
    def is_error(self) -> bool:
        return self.attributes.get("error") in (True, "true") or (
            self.attributes.get("otel.status_code") == "ERROR"
        )


@dataclass(frozen=True)
class Waterfall:
    trace_id: str
    start_us: int
    duration_us: int
    rows: list[SpanRow]
    services: dict[str, str]
    """Service -> colour, in order of first appearance."""

    def spans_of(self, service: str) -> list[SpanRow]:
        return [row for row in self.rows if row.service == service]

    @property
    def critical_path(self) -> list[SpanRow]:
        return [row for row in self.rows if row.critical]


def _tags(pairs: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {pair["key"]: pair.get("value") for pair in pairs or ()}


def build_waterfall(trace: Mapping[str, Any]) -> Waterfall:
    """One trace of Jaeger's `data` list into its waterfall."""
    try:
        trace_id = trace["traceID"]
        processes = {pid: p["serviceName"] for pid, p in trace.get("processes", {}).items()}
        raw_spans = trace["spans"]
    except (KeyError, TypeError, AttributeError) as error:
        raise MalformedTrace(f"not a Jaeger trace: missing {error}") from None
    if not raw_spans:
        raise MalformedTrace(f"trace {trace_id} has no spans")
    spans: dict[str, SpanRow] = {}
    for raw in raw_spans:
        references = [
            SpanLink(
                ref["traceID"],
                ref["spanID"],
                ref.get("refType", "CHILD_OF"),
                same_trace=ref["traceID"] == trace_id,
            )
            for ref in raw.get("references") or ()
        ]
        parent = next(
            (r.span_id for r in references if r.kind == "CHILD_OF" and r.same_trace), None
        )
        spans[raw["spanID"]] = SpanRow(
            span_id=raw["spanID"],
            parent_id=parent,
            service=processes.get(raw.get("processID"), "?"),
            operation=raw.get("operationName", ""),
            start_us=int(raw["startTime"]),
            duration_us=int(raw.get("duration", 0)),
            attributes=_tags(raw.get("tags")),
            events=[
                SpanEvent(
                    int(log["timestamp"]) - int(raw["startTime"]),
                    str(_tags(log.get("fields")).get("event", "event")),
                    {k: v for k, v in _tags(log.get("fields")).items() if k != "event"},
                )
                for log in raw.get("logs") or ()
            ],
            links=[r for r in references if not (r.kind == "CHILD_OF" and r.same_trace)],
        )
    roots = []
    for span in spans.values():
        if span.parent_id in spans:
            spans[span.parent_id].children.append(span.span_id)
        else:
            span.parent_id = None
            roots.append(span)
    for span in spans.values():
        span.children.sort(key=lambda child: (spans[child].start_us, child))
    roots.sort(key=lambda root: (root.start_us, root.span_id))

    start = min(span.start_us for span in spans.values())
    end = max(span.end_us for span in spans.values())
    total = max(end - start, 1)
    services: dict[str, str] = {}
    rows: list[SpanRow] = []

    def place(span: SpanRow, depth: int) -> None:
        span.depth = depth
        if span.service not in services:
            services[span.service] = PALETTE[len(services) % len(PALETTE)]
        span.colour = services[span.service]
        span.offset_pct = round((span.start_us - start) / total * 100, 3)
        span.width_pct = round(max(span.duration_us / total * 100, 0.2), 3)
        rows.append(span)
        for child in span.children:
            place(spans[child], depth + 1)

    for root in roots:
        place(root, 0)
    for span_id in critical_path_ids(spans, roots):
        spans[span_id].critical = True
    return Waterfall(trace_id, start, end - start, rows, services)


def critical_path_ids(spans: Mapping[str, SpanRow], roots: Sequence[SpanRow]) -> set[str]:
    reach: dict[str, int] = {}

    def reach_of(span_id: str) -> int:
        if span_id not in reach:
            span = spans[span_id]
            reach[span_id] = max([span.end_us, *(reach_of(c) for c in span.children)])
        return reach[span_id]

    def walk(span_id: str) -> set[str]:
        on_path = {span_id}
        cursor = reach_of(span_id)
        for child in sorted(spans[span_id].children, key=reach_of, reverse=True):
            if reach_of(child) <= cursor:
                on_path |= walk(child)
                cursor = spans[child].start_us
        return on_path

    if not roots:
        return set()
    last_root = max(roots, key=lambda root: reach_of(root.span_id))
    return walk(last_root.span_id)


@dataclass(frozen=True)
class TraceSummary:
    trace_id: str
    root: str
    """`service: operation` of the earliest span."""
    start_us: int
    duration_us: int
    spans: int
    services: list[str]
    errors: int


def summarise(trace: Mapping[str, Any]) -> TraceSummary:
    """A search result's line: what the trace is, when, how long, who took part."""
    waterfall = build_waterfall(trace)
    first = min(waterfall.rows, key=lambda row: row.start_us)
    return TraceSummary(
        trace_id=waterfall.trace_id,
        root=f"{first.service}: {first.operation}",
        start_us=waterfall.start_us,
        duration_us=waterfall.duration_us,
        spans=len(waterfall.rows),
        services=list(waterfall.services),
        errors=sum(1 for row in waterfall.rows if row.is_error),
    )
