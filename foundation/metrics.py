"""Metrics of every long-running process (its interpreter, not its work)."""

from __future__ import annotations

from prometheus_client import Histogram

GC_PAUSES = Histogram(
    "wagerstream_gc_pause_seconds",
    "Pauses of the garbage collector's cycle collections, by generation (2: a full one).",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
