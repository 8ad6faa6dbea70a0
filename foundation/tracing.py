"""OpenTelemetry traces through Kafka: W3C `traceparent` headers, spans when asked for, no
cost when not.

Tracing is on in a process when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (spans go there over
OTLP/HTTP, batched, with OpenTelemetry's own `OTEL_*` variables for the rest) or when a test
hands `setup` an exporter. Off, `ENABLED` is False and every caller skips its span before
touching OpenTelemetry, so a worker pays one attribute check per event.

A trace's id is the event's own `trace_id` (a UUID: its 32 hex digits are a valid W3C trace
id), so the id in the logs finds the trace in Jaeger; an event without one gets a new trace.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

ENABLED = False
_TRACER: trace.Tracer = trace.NoOpTracer()
_PROVIDER: Any = None
TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()
_NEXT_TRACE_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "wagerstream_trace_id", default=None
)
Headers = list[tuple[str, bytes]]


def trace_id_of(value: str | None) -> int | None:
    """The W3C trace id of an event's `trace_id` (a UUID, with or without dashes)."""
    if not value:
        return None
    try:
        number = uuid.UUID(value).int
    except ValueError:
        return None
    return number or None


def setup(service: str, exporter: Any = None) -> bool:
    """Start tracing in this process; True when it is on. Idempotent. The provider is this
    module's own, not OpenTelemetry's global one, so a test can start and stop it."""
    global ENABLED, _TRACER, _PROVIDER
    if ENABLED:
        return True
    if exporter is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class EventTraceIds(RandomIdGenerator):
        """A root span started for an event takes the event's `trace_id`."""

        def generate_trace_id(self) -> int:
            wanted = _NEXT_TRACE_ID.get()
            return wanted if wanted is not None else super().generate_trace_id()

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: name}), id_generator=EventTraceIds()
    )
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _PROVIDER, _TRACER = provider, provider.get_tracer("wagerstream")
    ENABLED = True
    return True


def shutdown() -> None:
    """Export what is still buffered and stop tracing (the SDK also does this at exit)."""
    global ENABLED, _TRACER, _PROVIDER
    if _PROVIDER is not None:
        _PROVIDER.shutdown()
    ENABLED, _TRACER, _PROVIDER = False, trace.NoOpTracer(), None


def parent_from(headers: Sequence[tuple[str, bytes | str]] | None) -> otel_context.Context | None:
    """The remote parent a record's `traceparent` header names, if any."""
    for name, value in headers or ():
        if name == TRACEPARENT:
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
            return _PROPAGATOR.extract({TRACEPARENT: text})
    return None


def headers_of(span: Span) -> Headers:
    """`traceparent` of `span`, as Kafka headers."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return [(k, v.encode("ascii")) for k, v in carrier.items()]


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: otel_context.Context | None = None,
    trace_id: str | None = None,
    attributes: dict[str, Any] | None = None,
    links: Sequence[Link] = (),
) -> Iterator[Span]:
    """A span, current inside the block: a child of `parent`, or with `trace_id` (the
    event's) the root of that event's trace, or else a child of the current span."""
    wanted = trace_id_of(trace_id) if parent is None else None
    if parent is None and trace_id is not None:
        parent = otel_context.Context()  # a root, whatever span is current
    token = _NEXT_TRACE_ID.set(wanted)
    try:
        with _TRACER.start_as_current_span(
            name,
            context=parent,
            kind=kind,
            attributes={k: v for k, v in (attributes or {}).items() if v is not None},
            links=links,
        ) as current:
            yield current
    finally:
        _NEXT_TRACE_ID.reset(token)


NO_SPAN = contextlib.nullcontext()  # reusable: a block that does nothing


def maybe_span(name: str, **kw: Any) -> contextlib.AbstractContextManager[Any]:
    """`span(name, ...)` when tracing is on, else a block that costs nothing."""
    return span(name, **kw) if ENABLED else NO_SPAN


def child_span(parent: Span | None, name: str, **kw: Any) -> contextlib.AbstractContextManager[Any]:
    """`span(name, ...)` inside `parent`, or a block that costs nothing when the event has
    no span of its own (no span object or attribute dict is made)."""
    return span(name, **kw) if parent is not None else NO_SPAN


def link_to(current: Span) -> Link:
    return Link(current.get_span_context())


def event_attributes(record: dict[str, Any]) -> dict[str, Any]:
    """The attributes every span about one event carries (those it has)."""
    names = ("tenant_id", "brand_id", "jurisdiction", "player_id", "event_id")
    return {name: record[name] for name in names if record.get(name) is not None}
