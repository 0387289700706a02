"""The local stack's Jaeger is real: spans exported over OTLP (gRPC and HTTP) come back from
its query API with their service and parent, and metrics exported over OTLP are served to
Prometheus."""

from __future__ import annotations

import os
import uuid

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from testkit.conditions import wait_for

pytestmark = pytest.mark.integration
JAEGER = os.environ.get("JAEGER_QUERY_URL", "http://127.0.0.1:16686")
OTLP = os.environ.get("TEST_OTLP_ENDPOINT", "http://127.0.0.1:4317")
METRICS_URL = os.environ.get("METRICS_URL", "http://127.0.0.1:8889/metrics")


@pytest.mark.parametrize(
    "exporter",
    [
        lambda: GrpcExporter(endpoint=OTLP, insecure=True),
        lambda: HttpExporter(
            endpoint=os.environ.get("TEST_OTLP_HTTP_ENDPOINT", "http://127.0.0.1:4318")
            + "/v1/traces"
        ),
    ],
    ids=["otlp-grpc", "otlp-http"],
)
def test_an_exported_trace_is_served_by_the_query_api(exporter):
    service = f"smoke-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter()))
    tracer = provider.get_tracer("smoke")
    with tracer.start_as_current_span("parent") as parent, tracer.start_as_current_span("child"):
        trace_id = f"{parent.get_span_context().trace_id:032x}"
    provider.shutdown()

    def both_spans() -> dict | None:
        """The trace once both spans are stored: Jaeger's pipeline batches what it receives,
        so one span of a trace can be served before the other."""
        response = requests.get(f"{JAEGER}/api/traces/{trace_id}", timeout=5)
        data = response.json().get("data") if response.ok else None
        if not data or {span["operationName"] for span in data[0]["spans"]} != {"parent", "child"}:
            return None
        return data[0]

    trace = wait_for(both_spans, 60, f"both spans of trace {trace_id} in Jaeger")
    spans = {span["operationName"]: span for span in trace["spans"]}
    assert spans["child"]["references"][0]["spanID"] == spans["parent"]["spanID"]
    assert {p["serviceName"] for p in trace["processes"].values()} == {service}


def test_an_exported_counter_is_served_to_prometheus():
    service = f"smoke-{uuid.uuid4().hex[:8]}"
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=OTLP, insecure=True))
    provider = MeterProvider(
        resource=Resource.create({"service.name": service}), metric_readers=[reader]
    )
    counter = provider.get_meter("smoke").create_counter("smoke.events")
    counter.add(3, {"kind": "test"})
    provider.shutdown()  # exports what was counted

    expected = f'smoke_events_total{{job="{service}",kind="test"}} 3'

    def served() -> list[str]:
        lines = requests.get(METRICS_URL, timeout=5).text.splitlines()
        return [line for line in lines if line.startswith("smoke_events_total") and service in line]

    [line] = wait_for(served, 60, f"{expected} at {METRICS_URL}")
    assert line.endswith(" 3") and 'kind="test"' in line
