"""Trace context across Kafka: W3C `traceparent`/`tracestate` in message headers.

The outbox stores the headers current when an event was written, so the relay publishes the
message inside the trace of the request that caused it, not of the relay's own loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACE_HEADERS = ("traceparent", "tracestate")
_propagator = TraceContextTextMapPropagator()
tracer = trace.get_tracer("eventing")


def current_trace_headers() -> dict[str, str]:
    """The current span's context as W3C headers; empty when no span is recording."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier


def context_from_headers(headers: Mapping[str, str] | None) -> otel_context.Context:
    return _propagator.extract(carrier=dict(headers or {}))


def kafka_headers_to_dict(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Kafka's list of (name, bytes) headers as text; the last value of a repeated name wins."""
    return {
        name: value.decode(errors="replace") for name, value in (headers or []) if value is not None
    }
