"""Trace context across Kafka: W3C `traceparent`/`tracestate` in message headers.

The outbox stores the headers current when an event was written, so the relay publishes the
message inside the trace of the request that caused it, not of the relay's own loop. A consumer
that handles messages one at a time processes each inside its message's trace; one that handles
them in batches (the search indexer) has a batch span linked to every message's trace, and a
span in each message's trace linked back to the batch, so both views lead to the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
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


@dataclass(frozen=True)
class ConsumedMessage:
    """Where a consumed message came from, as its processing span describes it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Mapping[str, str]

    @cached_property
    def sender(self) -> trace.SpanContext:
        """The span that sent the message, from its trace headers (invalid if it had none);
        read once, though both the batch's link and the message's own span need it."""
        return trace.get_current_span(context_from_headers(self.headers)).get_span_context()


def _processing(topic: str, group_id: str) -> dict[str, str | int]:
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "messaging.consumer.group.name": group_id,
    }


def process_attributes(message: ConsumedMessage, group_id: str) -> dict[str, str | int]:
    """OpenTelemetry's messaging attributes of a Kafka message's `process` span."""
    return {
        **_processing(message.topic, group_id),
        "messaging.destination.partition.id": str(message.partition),
        "messaging.kafka.offset": message.offset,
        "messaging.kafka.message.key": (message.key or b"").decode(errors="replace"),
    }


@contextmanager
def batch_process_span(
    topic: str, group_id: str, messages: Sequence[ConsumedMessage]
) -> Iterator[Span]:
    """The current span while a batch is processed, linked to the trace of every message."""
    links = [Link(message.sender) for message in messages if message.sender.is_valid]
    with tracer.start_as_current_span(
        f"{topic} process",
        kind=SpanKind.CONSUMER,
        links=links,
        attributes={
            **_processing(topic, group_id),
            "messaging.batch.message_count": len(messages),
        },
    ) as span:
        yield span


def record_processed_in_batch(
    message: ConsumedMessage,
    group_id: str,
    batch: Span,
    started_ns: int,
    error: str | None = None,
) -> None:
    """A span in the message's own trace for its part of a batch (from the batch's start to
    now), linked to the batch span; an error marks a message that was dead-lettered. Messages
    sent without trace context get none: the batch span alone covers them."""
    if not message.sender.is_valid:
        return
    span = tracer.start_span(
        f"{message.topic} process",
        context=trace.set_span_in_context(trace.NonRecordingSpan(message.sender)),
        kind=SpanKind.CONSUMER,
        links=[Link(batch.get_span_context())],
        start_time=started_ns,
        attributes=process_attributes(message, group_id),
    )
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end()
