"""Tracing, metrics and logging for every process, configured from the standard `OTEL_*` variables.

- Traces: the OpenTelemetry SDK with a batch processor exporting OTLP (gRPC to
  127.0.0.1:4317 unless `OTEL_EXPORTER_OTLP_ENDPOINT`/`OTEL_EXPORTER_OTLP_PROTOCOL` say otherwise;
  `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true` turn export off).
- Metrics: the SDK's meter provider exporting OTLP the same way (`OTEL_METRICS_EXPORTER=none`
  turns it off; `OTEL_METRIC_EXPORT_INTERVAL`, in ms, sets how often). HTTP instrumentation
  follows the stable HTTP semantic conventions (`OTEL_SEMCONV_STABILITY_OPT_IN=http` unless
  set otherwise): `http.server.request.duration` in seconds by `http.route`,
  `http.request.method` and `http.response.status_code`, not the old `http.server.duration`
  whose route hid in `http.target`.
- A client call that belongs to no trace (a statement of a relay's pass or of the saga
  timeout loop, a pool's `connect`) is not recorded (`NoOrphanClientSpans`); everything inside
  a request or a message's handling is.
- Logs: one JSON object per line on stderr, with `trace_id` and `span_id` of the current span.
"""

from __future__ import annotations

import logging
import logging.config
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from importlib import import_module
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes
from pythonjsonlogger.json import JsonFormatter

from eventing.tracing import context_from_headers

_configured: set[str] = set()


class _TraceContextFilter(logging.Filter):
    def __init__(self, service_name: str):
        super().__init__()
        self.service_name = service_name

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service_name
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id, record.span_id = _ids(context)
        else:
            record.trace_id = getattr(record, "trace_id", None)
            record.span_id = getattr(record, "span_id", None)
        return True


class AccessLineTraceFilter(logging.Filter):
    """gunicorn writes a request's access line after the request's span has ended; the
    response's `traceparent` header still names that span, so the line carries its ids."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms: Mapping[str, Any] = record.args if isinstance(record.args, Mapping) else {}
        traceparent = atoms.get("{traceparent}o")
        if traceparent:
            context = trace.get_current_span(
                context_from_headers({"traceparent": traceparent})
            ).get_span_context()
            if context.is_valid:
                record.trace_id, record.span_id = _ids(context)
        return True


def _ids(context: trace.SpanContext) -> tuple[str, str]:
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


NOISY_LOGGERS = ("kafka", "aiokafka", "urllib3", "elastic_transport")


def json_log_handler(service_name: str) -> logging.Handler:
    """One JSON object per line on stderr, with the service and the current trace and span."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{service}{trace_id}{span_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_TraceContextFilter(service_name))
    return handler


def _quiet_level(level: str) -> str:
    return logging.getLevelName(max(logging.WARNING, logging.getLevelName(level.upper())))


def configure_logging(service_name: str, level: str = "INFO") -> None:
    logging.config.dictConfig(logging_dict_config(service_name, level))


def logging_dict_config(service_name: str, level: str = "INFO") -> dict:
    """The JSON logging set-up as a `logging.config.dictConfig` dict: `configure_logging`
    applies it, and frameworks that insist on applying their own config (faust's worker,
    gunicorn) are given it."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "json": {"()": json_log_handler, "service_name": service_name},
        },
        "root": {"level": level.upper(), "handlers": ["json"]},
        "loggers": {noisy: {"level": _quiet_level(level)} for noisy in NOISY_LOGGERS},
    }


def _exports(signal: str) -> bool:
    """Whether `OTEL_<SIGNAL>_EXPORTER` (traces, metrics) asks for OTLP (the default)."""
    return os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp").strip().lower() not in (
        "",
        "none",
    )


def _over_http(signal: str) -> bool:
    protocol = os.environ.get(
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL",
        os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    )
    if not protocol.startswith("http"):
        os.environ.setdefault("OTEL_EXPORTER_OTLP_INSECURE", "true")
    return protocol.startswith("http")


_OTLP_EXPORTERS = {
    "traces": ("trace_exporter", "OTLPSpanExporter"),
    "metrics": ("metric_exporter", "OTLPMetricExporter"),
}


def _otlp_exporter(signal: str):
    """The OTLP exporter `OTEL_<SIGNAL>_EXPORTER` asks for, over gRPC or HTTP; None for none."""
    if not _exports(signal):
        return None
    module, name = _OTLP_EXPORTERS[signal]
    transport = "http" if _over_http(signal) else "grpc"
    return getattr(import_module(f"opentelemetry.exporter.otlp.proto.{transport}.{module}"), name)()


def _sdk_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true"


def _resource(service_name: str) -> Resource:
    """The service's name, and an id of this process shared by its traces and metrics: several
    processes of one service export the same metrics, which must stay apart (Prometheus'
    `instance` label)."""
    return Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", service_name),
            "service.instance.id": str(uuid.uuid4()),
        }
    )


class NoOrphanClientSpans(Sampler):
    """Records every span except a client call that belongs to no trace.

    The SQLAlchemy instrumentation opens a span for each statement and each connection it
    makes, and the background loops (the outbox relays' passes, the saga timeout loop) run
    statements four times a second outside any message or request: recorded, they would be
    thousands of one-span traces a minute (`connect`, `SELECT outbox`) burying the checkouts in
    Jaeger, and their export would cost the workers CPU. A statement run while a message or
    request is handled has that span as its parent and is kept (`ParentBased`)."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        decision = Decision.DROP if kind is SpanKind.CLIENT else Decision.RECORD_AND_SAMPLE
        return SamplingResult(decision, attributes if decision.is_sampled() else None)

    def get_description(self) -> str:
        return "NoOrphanClientSpans"


def configure_tracing(resource: Resource) -> None:
    provider = TracerProvider(resource=resource, sampler=ParentBased(root=NoOrphanClientSpans()))
    exporter = _otlp_exporter("traces")
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def configure_metrics(resource: Resource) -> None:
    """Export every `OTEL_METRIC_EXPORT_INTERVAL` ms (60 s by default) over OTLP; the local
    Jaeger serves them to Prometheus."""
    exporter = _otlp_exporter("metrics")
    readers = [PeriodicExportingMetricReader(exporter)] if exporter is not None else []
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))


def instrument_libraries() -> None:
    """Spans for SQL (engines created afterwards), outgoing HTTP and Elasticsearch calls."""
    from opentelemetry.instrumentation.elasticsearch import ElasticsearchInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    for instrumentor in (
        SQLAlchemyInstrumentor(),
        RequestsInstrumentor(),
        ElasticsearchInstrumentor(),
    ):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


def setup_observability(service_name: str, log_level: str = "INFO") -> None:
    """Call first thing in a process, before any database engine is created. The SDK's tracer
    and meter providers are installed once per process (each forked worker calls this)."""
    configure_logging(service_name, log_level)
    if _sdk_disabled() or service_name in _configured:
        return
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    resource = _resource(service_name)
    configure_tracing(resource)
    configure_metrics(resource)
    instrument_libraries()
    _configured.add(service_name)


def shutdown_telemetry() -> None:
    """Flush the spans and metrics not yet exported (call before a process exits)."""
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            shutdown()
