"""Which spans the shop's processes record (`servicekit.observability.NoOrphanClientSpans`):
everything in a request's or a message's trace, no client call that belongs to no trace (a
relay's or the timeout loop's statements, a pool's `connect`)."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.trace import SpanKind

from eventing.tracing import context_from_headers
from servicekit.observability import NoOrphanClientSpans


@pytest.fixture
def recorded():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(root=NoOrphanClientSpans()))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    yield tracer, lambda: sorted(span.name for span in exporter.get_finished_spans())


def test_a_client_call_outside_any_trace_is_not_recorded(recorded):
    tracer, names = recorded
    with (
        tracer.start_as_current_span("connect", kind=SpanKind.CLIENT),
        tracer.start_as_current_span("SELECT outbox", kind=SpanKind.CLIENT),
    ):
        pass
    assert names() == []


def test_a_request_and_the_statements_it_runs_are_recorded(recorded):
    tracer, names = recorded
    with (
        tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER),
        tracer.start_as_current_span("INSERT orders", kind=SpanKind.CLIENT),
    ):
        pass
    assert names() == ["INSERT orders", "POST /orders"]


def test_a_statement_of_a_message_continuing_a_trace_from_its_headers_is_recorded(recorded):
    tracer, names = recorded
    headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    with (
        tracer.start_as_current_span(
            "orders process", context=context_from_headers(headers), kind=SpanKind.CONSUMER
        ),
        tracer.start_as_current_span("UPDATE orders", kind=SpanKind.CLIENT),
    ):
        pass
    assert names() == ["UPDATE orders", "orders process"]


def test_a_span_of_a_background_task_of_its_own_is_recorded(recorded):
    tracer, names = recorded
    with tracer.start_as_current_span("saga checkout timeout", kind=SpanKind.INTERNAL):
        pass
    with tracer.start_as_current_span("orders publish", kind=SpanKind.PRODUCER):
        pass
    assert names() == ["orders publish", "saga checkout timeout"]
