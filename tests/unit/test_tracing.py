"""W3C trace context through Kafka headers, with an in-memory exporter: the trace id is the
event's own `trace_id`, a consumer's span continues the producer's, and off means no spans."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from foundation import tracing

TRACE = "3f2b8c1e-9a4d-4e7f-8b6a-1c2d3e4f5a6b"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.setup("test", exporter=exporter)
    yield exporter
    tracing.shutdown()


def test_off_there_is_no_span_and_no_header() -> None:
    assert not tracing.ENABLED
    with tracing.maybe_span("nothing") as nothing:
        assert nothing is None


def test_a_producer_span_takes_the_events_trace_id_and_a_consumer_continues_it(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.span("bet.placed publish", trace_id=TRACE, attributes={"tenant_id": "t1"}) as s:
        headers = tracing.headers_of(s)
    [(name, value)] = headers
    producer_span = s.get_span_context().span_id
    version, trace_hex, parent_hex, flags = value.decode().split("-")
    assert (name, version, trace_hex, parent_hex) == (
        "traceparent", "00", "3f2b8c1e9a4d4e7f8b6a1c2d3e4f5a6b", f"{producer_span:016x}"
    )  # fmt: skip
    assert int(flags, 16) & 1  # sampled
    with tracing.span("bet.placed process", parent=tracing.parent_from(headers)) as consumer:
        with tracing.maybe_span("rules"):
            pass
        onward = tracing.headers_of(consumer)
    got = {span.name: span for span in spans.get_finished_spans()}
    assert set(got) == {"bet.placed publish", "bet.placed process", "rules"}
    trace_id = 0x3F2B8C1E9A4D4E7F8B6A1C2D3E4F5A6B
    assert {span.context.trace_id for span in got.values()} == {trace_id}
    assert got["bet.placed publish"].parent is None
    assert got["bet.placed process"].parent.span_id == producer_span
    assert got["rules"].parent.span_id == got["bet.placed process"].context.span_id
    assert got["bet.placed publish"].attributes["tenant_id"] == "t1"
    assert onward[0][1].decode().split("-")[2] == f"{consumer.get_span_context().span_id:016x}"


def test_an_event_without_a_uuid_trace_id_gets_a_new_trace(spans: InMemorySpanExporter) -> None:
    # "c" has no trace id of its own: a child of the current span
    with (
        tracing.span("a", trace_id="not-a-uuid"),
        tracing.span("b", trace_id=TRACE),
        tracing.span("c"),
    ):
        pass
    got = {span.name: span for span in spans.get_finished_spans()}
    assert got["a"].context.trace_id not in (0, 0x3F2B8C1E9A4D4E7F8B6A1C2D3E4F5A6B)
    assert got["b"].parent is None  # an event's trace id starts its own trace, even nested
    assert got["b"].context.trace_id == 0x3F2B8C1E9A4D4E7F8B6A1C2D3E4F5A6B
    assert got["c"].parent.span_id == got["b"].context.span_id
    assert tracing.parent_from([("other", b"x")]) is None
