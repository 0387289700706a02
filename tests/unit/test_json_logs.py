"""Log lines are JSON objects naming the service and the trace and span they belong to."""

from __future__ import annotations

import io
import json
import logging

from gunicorn.glogging import SafeAtoms
from opentelemetry.sdk.trace import TracerProvider

from servicekit.observability import AccessLineTraceFilter, json_log_handler

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _logger(name: str, *filters: logging.Filter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = json_log_handler("order-service")
    handler.setStream(stream)
    logger = logging.getLogger(name)
    logger.handlers, logger.filters, logger.propagate = [handler], list(filters), False
    logger.setLevel(logging.INFO)
    return logger, stream


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_written_inside_a_span_carries_its_trace_and_span_ids():
    logger, stream = _logger("test.json_logs.in_span")
    with TracerProvider().get_tracer("test").start_as_current_span("work") as span:
        logger.info("reserved")
    [line] = _lines(stream)
    context = span.get_span_context()
    assert line["message"] == "reserved" and line["service"] == "order-service"
    assert (line["trace_id"], line["span_id"]) == (
        f"{context.trace_id:032x}",
        f"{context.span_id:016x}",
    )


def test_a_line_outside_any_span_has_null_ids():
    logger, stream = _logger("test.json_logs.no_span")
    logger.warning("starting")
    [line] = _lines(stream)
    assert line["trace_id"] is None and line["span_id"] is None


def test_an_access_line_takes_the_ids_from_its_responses_traceparent_header():
    logger, stream = _logger("test.json_logs.access", AccessLineTraceFilter())
    atoms = {"r": "GET /orders/x HTTP/1.1", "s": "404", "{traceparent}o": TRACEPARENT}
    logger.info('"%(r)s" %(s)s', SafeAtoms(atoms))
    [line] = _lines(stream)
    assert line["message"] == '"GET /orders/x HTTP/1.1" 404'
    assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert line["span_id"] == "b7ad6b7169203331"


def test_an_access_line_without_a_traceparent_header_has_null_ids():
    logger, stream = _logger("test.json_logs.access_untraced", AccessLineTraceFilter())
    logger.info('"%(r)s" %(s)s', SafeAtoms({"r": "GET /healthz HTTP/1.1", "s": "200"}))
    [line] = _lines(stream)
    assert line["trace_id"] is None and line["span_id"] is None
