"""Metrics of the ClickHouse sink: rows, batches, freshness, lag."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MARTS_ROWS = Counter(
    "wagerstream_marts_rows_total", "Fact rows inserted into ClickHouse.", ["table"]
)
MARTS_SKIPPED = Counter(
    "wagerstream_marts_skipped_total",
    "Records the ClickHouse sink could not decode (the worker dead-letters the same bytes).",
    ["topic", "code"],
)
MARTS_BATCH = Histogram(
    "wagerstream_marts_batch_rows",
    "Rows per ClickHouse insert.",
    buckets=(1, 10, 100, 1000, 5000, 10000, 20000, 50000),
)
MARTS_FRESHNESS = Histogram(
    "wagerstream_marts_freshness_seconds",
    "Ledger commit (commit_ts) to the entry being visible in kpi_daily (insert returned).",
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300),
)
MARTS_LAG = Gauge(
    "wagerstream_marts_consumer_lag", "Messages the ClickHouse sink has not inserted yet."
)
