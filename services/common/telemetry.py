"""OpenTelemetry setup: one tracer provider per process, OTLP export when configured."""

import os

from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter


def otlp_exporter_from_environment() -> SpanExporter | None:
    """Return an OTLP/gRPC exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

    The exporter reads the endpoint, headers and timeout from the standard
    `OTEL_EXPORTER_OTLP_*` variables itself and connects on its first export.
    """
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter,
    )

    return OTLPSpanExporter()


def configure_tracing(
    service: str, exporter: SpanExporter | None = None
) -> TracerProvider:
    """Install a tracer provider for service and instrument asyncpg.

    Spans go to `exporter` when given (tests), otherwise over OTLP when the
    standard `OTEL_EXPORTER_OTLP_ENDPOINT` variable is set; without either,
    trace ids are still created and propagated for logs and responses.

    OpenTelemetry lets a process set its global provider only once. When a
    process hosts several services (tests do), a later call therefore returns
    the provider already installed, with `exporter` added to it, so that spans
    never go to a provider nothing uses.
    """
    installed = trace.get_tracer_provider()
    if isinstance(installed, TracerProvider):
        if exporter is not None:
            installed.add_span_processor(BatchSpanProcessor(exporter))
        return installed
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is None:
        exporter = otlp_exporter_from_environment()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    # The locked asyncpg instrumentation (0.66b1) wraps the query methods of
    # PreparedStatement as well as those of Connection. A query run through
    # `conn.prepare(...)` therefore gets one span too, which
    # tests/common/test_tracing.py checks in case an upgrade drops it.
    AsyncPGInstrumentor().instrument(tracer_provider=provider)
    return provider


def current_trace_id() -> str:
    """Return the active span's trace id as 32 hex digits, or an empty string."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""
