"""Metrics of the Faust worker: events through the agents, signals, state, settle lags.

Every name starts with ``wagerstream_``; the Grafana dashboard is written against the
``metrics.py`` of each component.
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

REREAD = Counter(
    "wagerstream_fetch_holes_reread_total",
    "Partitions read again because records were never handed to a stream, were fetched "
    "during a seek, or were emptied from a stream buffer unread (agents/transport.py).",
    ["topic"],
)
EVENTS_OUT = Counter(
    "wagerstream_events_out_total", "Events processed successfully.", ["agent", "topic"]
)
PROCESSING = Histogram(
    "wagerstream_processing_seconds",
    "Wall time to process one event, sink writes included.",
    ["agent"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
PRODUCE_TO_MODEL = Histogram(
    "wagerstream_produce_to_model_seconds",
    "From an input record's Kafka timestamp (its producer's clock) until the read models of "
    "its batch are written to Redis: what a reader of ws:* waits for a new event.",
    ["agent"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
BATCH_EVENTS = Histogram(
    "wagerstream_batch_events",
    "Events handled per agent batch: near WAGERSTREAM_WORKER_BATCH_MAX_BEHIND while the worker "
    "works off a backlog, small while it keeps up.",
    ["agent"],
    buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10_000),
)
STATE_FLUSH_KEYS = Histogram(
    "wagerstream_state_flush_keys",
    "Changed table keys written back per state flush (one RocksDB put and one changelog "
    "record each).",
    ["agent"],
    buckets=(0, 10, 100, 1000, 5000, 20_000, 100_000),
)
STATE_UNFLUSHED = Gauge(
    "wagerstream_state_unflushed_events",
    "Events handled whose state is not written back yet, so not acked (replayed after a crash).",
    ["agent"],
)
STATE_GIVEN_UP = Counter(
    "wagerstream_state_given_up_events_total",
    "Handled events given up unwritten and unacked because the worker's membership lease "
    "lapsed (a freeze past the session timeout): their partitions' next owner replays them.",
    ["agent"],
)
SENT = Counter(
    "wagerstream_records_sent_total",
    "Records an agent sent to another topic (signals, repartitions).",
    ["agent", "topic"],
)
SIGNALS = Counter(
    "wagerstream_signals_total",
    "Signals raised (first time per player, code, window), per jurisdiction: a regulator's view.",
    ["topic", "code", "jurisdiction"],
)
SNAPSHOT_ROWS = Counter(
    "wagerstream_ledger_snapshot_rows_total",
    "ledger.cdc snapshot reads (op r) by what the risk rules did with them: judged (news to a "
    "player whose ledger this pipeline follows, from a relay that snapshotted again), seen "
    "(judged when they streamed) or history (a player not followed yet).",
    ["outcome"],
)
DUPLICATES = Counter(
    "wagerstream_duplicate_events_total",
    "Events skipped by the risk rules because their event_id was seen before (replays).",
    ["topic"],
)
CONSUMER_LAG = Gauge(
    "wagerstream_consumer_lag",
    "Messages on this worker's assigned partitions not yet handled (high-water - handled).",
    ["topic"],
)
TABLE_KEYS = Gauge(
    "wagerstream_table_keys", "Keys in this worker's active partitions of a table.", ["table"]
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
