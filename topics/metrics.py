"""Metrics of the decoder every consumer runs: what came in, what went to a dead-letter topic."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS_IN = Counter(
    "wagerstream_events_in_total", "Events consumed, before decoding.", ["agent", "topic"]
)
DLQ = Counter("wagerstream_dlq_total", "Events sent to a dead-letter topic.", ["topic", "code"])
