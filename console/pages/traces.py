"""Traces: a trace's waterfall read from Jaeger's query API, and the trace search (service,
operation, time range, minimum duration, order id). The local Jaeger has no UI; this is how a
checkout is looked at here."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Blueprint, abort, redirect, request, url_for
from werkzeug.wrappers import Response

from console.jaeger import JaegerUnavailable, TraceNotFound, TraceQuery
from console.pages.common import ORDER_ATTRIBUTE, SAGA_SERVICE, jaeger
from console.rendering import render
from console.waterfall import MalformedTrace, build_waterfall, summarise

blueprint = Blueprint("traces", __name__, url_prefix="/traces")
TRACE_ID = re.compile(r"^[0-9a-f]{1,32}$")
MIN_DURATION = re.compile(r"^\d+(\.\d+)?(us|µs|ms|s|m)$")


def _moment(text: str, what: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        abort(400, description=f"{what} {text!r} is not a time like 2026-11-22T10:00")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def query_from(args) -> TraceQuery | None:
    """The search asked for; None when nothing was asked yet. Without a service, an order id
    searches the saga orchestrator's spans, which carry it."""
    service = args.get("service", "").strip()
    order_id = args.get("order_id", "").strip()
    if not service and not order_id:
        return None
    min_duration = args.get("min_duration", "").strip()
    if min_duration and not MIN_DURATION.match(min_duration):
        abort(400, description=f"minimum duration {min_duration!r} is not like 50ms or 1.5s")
    try:
        limit = min(max(int(args.get("limit", "20") or 20), 1), 200)
    except ValueError:
        abort(400, description="limit must be a number")
    for value in (service, order_id, args.get("operation", "")):
        if len(value) > 200 or not value.isprintable():
            abort(400, description="search fields are printable text up to 200 characters")
    return TraceQuery(
        service=service or SAGA_SERVICE,
        operation=args.get("operation", "").strip() or None,
        start=_moment(args.get("start", ""), "start"),
        end=_moment(args.get("end", ""), "end"),
        min_duration=min_duration or None,
        attributes={ORDER_ATTRIBUTE: order_id} if order_id else None,
        limit=limit,
    )


@blueprint.get("")
def index() -> Response | str | tuple[str, int]:
    trace_id = request.args.get("trace_id", "").strip().lower()
    if trace_id:
        if not TRACE_ID.match(trace_id):
            abort(400, description=f"{trace_id!r} is not a trace id (up to 32 hex digits)")
        return redirect(url_for("traces.detail", trace_id=trace_id))
    query = query_from(request.args)
    services: list[str] = []
    error = None
    results = []
    try:
        services = jaeger().services()
        if query is not None:
            results = sorted(
                (summarise(trace) for trace in jaeger().search(query)),
                key=lambda summary: summary.start_us,
                reverse=True,
            )
    except (JaegerUnavailable, MalformedTrace) as failure:
        error = str(failure)
    return render(
        "traces.html",
        services=services,
        args=request.args,
        query=query,
        results=results,
        error=error,
    ), (503 if error else 200)


@blueprint.get("/<trace_id>")
def detail(trace_id: str) -> str | tuple[str, int]:
    trace_id = trace_id.lower()
    if not TRACE_ID.match(trace_id):
        abort(404, description=f"{trace_id!r} is not a trace id")
    try:
        waterfall = build_waterfall(jaeger().trace(trace_id))
    except TraceNotFound:
        abort(404, description=f"Jaeger has no trace {trace_id} (not exported yet, or expired)")
    except (JaegerUnavailable, MalformedTrace) as error:
        abort(503, description=str(error))
    return render("trace.html", waterfall=waterfall)
