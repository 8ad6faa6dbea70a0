"""Prometheus metrics of the worker fleet; every name starts with ``wagerstream_``.

Defined in one module so that names and label sets are reviewed together and a dashboard can be
written against this file alone.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Settle lags run from seconds (casino rounds) to days (ante-post football).
_LAG_BUCKETS = (
    0.1,
    0.5,
    1,
    2,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
    7200,
    21600,
    86400,
    259200,
    604800,
)

EVENTS_IN = Counter(
    "wagerstream_events_in_total", "Events consumed, before decoding.", ["agent", "topic"]
)
EVENTS_OUT = Counter(
    "wagerstream_events_out_total", "Events processed successfully.", ["agent", "topic"]
)
DLQ = Counter("wagerstream_dlq_total", "Events sent to a dead-letter topic.", ["topic", "code"])
PROCESSING = Histogram(
    "wagerstream_processing_seconds",
    "Wall time to process one event, sink writes included.",
    ["agent"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
SENT = Counter(
    "wagerstream_records_sent_total",
    "Records an agent sent to another topic (signals, repartitions).",
    ["agent", "topic"],
)
SIGNALS = Counter(
    "wagerstream_signals_total",
    "Signals raised (first time per player, code, window).",
    ["topic", "code"],
)
DUPLICATES = Counter(
    "wagerstream_duplicate_events_total",
    "Events skipped by the risk rules because their event_id was seen before (replays).",
    ["topic"],
)
CONSUMER_LAG = Gauge(
    "wagerstream_consumer_lag",
    "Messages on this worker's assigned partitions not yet read (high-water - read offset).",
    ["topic"],
)
TABLE_KEYS = Gauge(
    "wagerstream_table_keys", "Keys in this worker's active partitions of a table.", ["table"]
)
SINK_BATCH = Histogram(
    "wagerstream_sink_batch_size",
    "Writes per sink batch (one Redis pipeline, one signal flush).",
    ["sink"],
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500),
)
SETTLE_LAG = Histogram(
    "wagerstream_settle_lag_seconds",
    "Bet settled_at minus placed_at (event time).",
    ["product", "provider"],
    buckets=_LAG_BUCKETS,
)
SETTLE_AFTER_START = Histogram(
    "wagerstream_settle_after_event_start_seconds",
    "Sportsbook bet settled_at minus the event's start (event time).",
    ["provider"],
    buckets=_LAG_BUCKETS,
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

# --- CDC relay -------------------------------------------------------------------------------
CDC_RECORDS = Counter("wagerstream_cdc_records_total", "ledger.cdc records acknowledged by Kafka.")
CDC_ACK_LATENCY = Histogram(
    "wagerstream_cdc_commit_to_ack_seconds",
    "Ledger commit (commit_ts) to Kafka acknowledgement of its ledger.cdc record.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CDC_SLOT_LAG_BYTES = Gauge(
    "wagerstream_cdc_slot_lag_bytes", "WAL held by the CDC slot: current LSN - confirmed LSN."
)
CDC_SLOT_LAG_SECONDS = Gauge(
    "wagerstream_cdc_slot_lag_seconds", "Age of the oldest commit not yet confirmed to the slot."
)

# --- ClickHouse sink ------------------------------------------------------------------------
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
