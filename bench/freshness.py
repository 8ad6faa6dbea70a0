"""Freshness: ledger commit → visible in `kpi_daily`, with posting paced at a fixed rate.

    .venv/bin/wagerstream bench freshness [--runs 3] [--seconds 20] [--rate 2000]

The CDC relay streams from a fresh slot (in this process); `wagerstream marts sink` runs as a
subprocess on its own embedded engine and consumer group, and first catches up on what the
fact topics already hold. Then transfers are posted at `rate`/s for `seconds`, and
freshness is read from ClickHouse itself: `inserted_at` (set by the server when the insert
lands; the marts are views, so that is when `kpi_daily` shows the entry) minus `commit_ts`,
exact quantiles over every entry of the run.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.ledger import _drop, _load, _relay, _setup_players
from bench.results import save
from foundation.settings import Settings
from ledger.migrate import migrate
from tooling.supervisor import MartsSinkProcess
from topics.admin import consumer_lag
from topics.catalogue import FACT_TOPICS


def _one_run(
    settings: Settings, sink: MartsSinkProcess, seconds: float, rate: float
) -> dict[str, Any]:
    tenant = f"fresh{uuid.uuid4().hex[:8]}"
    players = _setup_players(settings.postgres, tenant, 500)
    slot = f"bench_{uuid.uuid4().hex[:8]}"
    relay, start = _relay(settings, slot)
    thread = threading.Thread(target=relay.stream, args=(start,), daemon=True)
    thread.start()
    try:
        began = datetime.now(UTC)
        latencies = _load(settings.postgres, tenant, tenant, players, 16, seconds, rate)
        if len(latencies) < seconds * rate / 2:
            raise RuntimeError(f"only {len(latencies)} transfers posted: see the clients' errors")
        with psycopg.connect(settings.postgres) as conn:
            want = conn.execute(
                "SELECT count(*) FROM ledger.entries WHERE tenant_id = %s AND created_at >= %s",
                (tenant, began),
            ).fetchone()[0]
        since = began.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        where = f"tenant_id = '{tenant}' AND commit_ts >= '{since}'"
        deadline = time.monotonic() + 300
        count = f"SELECT count() AS n FROM wagerstream.ledger_entries FINAL WHERE {where}"
        while sink.query(count)[0]["n"] < want:
            if time.monotonic() > deadline:
                raise TimeoutError("entries never reached ClickHouse")
            time.sleep(0.5)
        p50, p95, p99, worst = sink.query(
            "SELECT quantileExact(0.5)(f) AS a, quantileExact(0.95)(f) AS b,"
            " quantileExact(0.99)(f) AS c, max(f) AS d"
            f" FROM (SELECT dateDiff('millisecond', commit_ts, min(inserted_at)) AS f"
            f" FROM wagerstream.ledger_entries WHERE {where} GROUP BY entry_id, commit_ts)"
        )[0].values()
        return {
            "transfers_per_s": len(latencies) / seconds,
            "entries": want,
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "max_ms": worst,
        }
    finally:
        relay.stop_event.set()
        thread.join(30)
        _drop(settings, slot)


def run(settings: Settings, runs: int = 3, seconds: float = 20, rate: float = 2000) -> dict:
    migrate(settings.postgres)
    workdir = settings.stack_dir / "bench" / f"freshness-{uuid.uuid4().hex[:6]}"
    sink = MartsSinkProcess(workdir, f"bench-fresh-{uuid.uuid4().hex[:8]}")
    try:
        deadline = time.monotonic() + 1800
        while consumer_lag(settings.kafka, sink.group, FACT_TOPICS,
                           settings.topic_partitions) > 0:  # fmt: skip
            if time.monotonic() > deadline:
                raise TimeoutError("the sink never caught up with the fact topics")
            time.sleep(1)
        results = [_one_run(settings, sink, seconds, rate) for _ in range(runs)]
    finally:
        sink.stop()
    return save("freshness", results, target_rate=rate, seconds=seconds)
