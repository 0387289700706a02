"""Tracing and logging for every process, configured from the standard `OTEL_*` variables.

- Traces: the OpenTelemetry SDK with a batch processor exporting OTLP (gRPC to
  127.0.0.1:4317 unless `OTEL_EXPORTER_OTLP_ENDPOINT`/`OTEL_EXPORTER_OTLP_PROTOCOL` say otherwise;
  `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true` turn export off).
- Logs: one JSON object per line on stderr, with `trace_id` and `span_id` of the current span.
"""

from __future__ import annotations

import logging
import os
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from pythonjsonlogger.json import JsonFormatter

_configured: set[str] = set()


class _TraceContextFilter(logging.Filter):
    def __init__(self, service_name: str):
        super().__init__()
        self.service_name = service_name

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.service = self.service_name
        record.trace_id = f"{context.trace_id:032x}" if context.is_valid else None
        record.span_id = f"{context.span_id:016x}" if context.is_valid else None
        return True


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
    root = logging.getLogger()
    root.handlers[:] = [json_log_handler(service_name)]
    root.setLevel(level.upper())
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(_quiet_level(level))


def logging_dict_config(service_name: str, level: str = "INFO") -> dict:
    """The same set-up as `configure_logging`, for frameworks that insist on applying their own
    `logging.config.dictConfig` (faust's worker does, replacing the root's handlers)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "json": {"()": json_log_handler, "service_name": service_name},
        },
        "root": {"level": level.upper(), "handlers": ["json"]},
        "loggers": {noisy: {"level": _quiet_level(level)} for noisy in NOISY_LOGGERS},
    }


def _exporter():
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporter in ("", "none"):
        return None
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    )
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

    os.environ.setdefault("OTEL_EXPORTER_OTLP_INSECURE", "true")
    return Grpc()


def configure_tracing(service_name: str) -> None:
    """Install the SDK's tracer provider once per process (and per forked worker)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true" or service_name in _configured:
        return
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    exporter = _exporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured.add(service_name)


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
    """Call first thing in a process, before any database engine is created."""
    configure_logging(service_name, log_level)
    configure_tracing(service_name)
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() != "true":
        instrument_libraries()


def shutdown_tracing() -> None:
    """Flush spans still in the batch processor (call before a process exits)."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        shutdown()
