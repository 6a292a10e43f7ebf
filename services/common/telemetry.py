"""OpenTelemetry setup: one tracer provider per process, OTLP export when configured."""

import os

from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter


def configure_tracing(
    service: str, exporter: SpanExporter | None = None
) -> TracerProvider:
    """Install a tracer provider for service and instrument asyncpg.

    Spans go to `exporter` when given (tests), otherwise over OTLP when the
    standard `OTEL_EXPORTER_OTLP_ENDPOINT` variable is set; without either,
    trace ids are still created and propagated for logs and responses.
    """
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is None and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter,
        )

        exporter = OTLPSpanExporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)
    return provider


def current_trace_id() -> str:
    """Return the active span's trace id as 32 hex digits, or an empty string."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""
