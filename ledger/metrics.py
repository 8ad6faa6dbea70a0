"""Metrics of the CDC relay: records acknowledged, commit-to-ack latency, slot lag."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
