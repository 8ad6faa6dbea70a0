"""Metrics of the Redis read-model writer."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SINK_BATCH = Histogram(
    "wagerstream_sink_batch_size",
    "Writes per sink batch (one Redis pipeline, one signal flush).",
    ["sink"],
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500),
)
SINK_LATENCY = Histogram(
    "wagerstream_sink_seconds",
    "Latency of one sink write (a pipeline or a batch).",
    ["sink"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
STALE_WRITES = Counter(
    "wagerstream_redis_stale_writes_total",
    "Read-model writes refused because Redis already held a newer version (replays).",
    ["model"],
)
