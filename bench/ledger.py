"""Ledger and CDC benchmarks on the local stack; prints JSON, writes bench/results/.

    .venv/bin/wagerstream bench ledger [--runs 3] [--seconds 8]

* posting: transfers/s and p50/p95/p99 latency of `ledger.post_transfer` with 1, 4 and 16
  concurrent clients (one connection each), a deposit/stake/win mix over 2,000 players;
* CDC catch-up: a backlog of transfers posted while no relay runs, then rows/s until Kafka
  acknowledged every record;
* CDC latency: commit → Kafka ack p50/p99 with posting paced at a steady rate (2,000/s).

Every figure is the median of `runs` runs; the spread is reported too. The machine is shared
and noisy: compare figures from one run of this script, not across days.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.results import summarise, write
from foundation.settings import Settings
from ledger.cdc import CdcRelay, drop_slot
from ledger.client import Ledger, Overdraft
from ledger.migrate import migrate
from ledger.pgoutput import parse_lsn
from topics.serde import AvroSerde


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _setup_players(dsn: str, tenant: str, players: int) -> list[str]:
    ids = [f"{tenant}-p{i}" for i in range(players)]
    with Ledger(dsn) as ledger:
        for i, p in enumerate(ids):
            ledger.open_player(tenant, "bench", "MGA", p, "EUR")
            ledger.post(f"{tenant}-seed-{i}", "deposit", tenant, "bench", p, "EUR", 1_000_000)
    return ids


def _client(
    dsn: str,
    tenant: str,
    prefix: str,
    players: list[str],
    stop: threading.Event,
    out: list[float],
    rate: float | None,
    seed: int,
) -> None:
    rng = random.Random(seed)
    interval = 1 / rate if rate else 0.0
    next_at = time.perf_counter()
    with Ledger(dsn) as ledger:
        n = 0
        while not stop.is_set():
            if interval:
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            kind = rng.choice(("stake", "stake", "win", "deposit"))
            started = time.perf_counter()
            # a stake the balance cannot cover is refused: still one measured round trip
            with contextlib.suppress(Overdraft):
                ledger.post(
                    f"{prefix}-{seed}-{n}",
                    kind,
                    tenant,
                    "bench",
                    rng.choice(players),
                    "EUR",
                    rng.randint(100, 5_000),
                )
            out.append(time.perf_counter() - started)
            n += 1


def _load(
    dsn: str,
    tenant: str,
    prefix: str,
    players: list[str],
    clients: int,
    seconds: float,
    total_rate: float | None = None,
) -> list[float]:
    stop = threading.Event()
    samples: list[list[float]] = [[] for _ in range(clients)]
    rate = total_rate / clients if total_rate else None
    threads = [
        threading.Thread(
            target=_client,
            args=(dsn, tenant, prefix, players, stop, samples[i], rate, i),
        )
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return [s for per in samples for s in per]


def bench_posting(
    dsn: str, players: list[str], tenant: str, prefix: str, seconds: float
) -> dict[str, Any]:
    out = {}
    for clients in (1, 4, 16):
        latencies = _load(dsn, tenant, f"{prefix}-c{clients}", players, clients, seconds)
        out[f"clients_{clients}"] = {
            "transfers_per_s": len(latencies) / seconds,
            "p50_ms": _pct(latencies, 0.50) * 1000,
            "p95_ms": _pct(latencies, 0.95) * 1000,
            "p99_ms": _pct(latencies, 0.99) * 1000,
        }
    return out


def _relay(settings: Settings, slot: str) -> tuple[CdcRelay, int]:
    with psycopg.connect(settings.postgres, autocommit=True) as conn:
        lsn = conn.execute(
            "SELECT lsn::text FROM pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,)
        ).fetchone()[0]
    return CdcRelay(settings.cdc_postgres, settings.kafka, AvroSerde(), slot=slot), parse_lsn(lsn)


def _drop(settings: Settings, slot: str) -> None:
    drop_slot(settings.postgres, slot, forget_state=False)


def bench_catch_up(
    settings: Settings, players: list[str], tenant: str, prefix: str, backlog: int
) -> dict[str, Any]:
    slot = f"bench_{uuid.uuid4().hex[:8]}"
    relay, start = _relay(settings, slot)
    try:
        posted = len(_load_count(settings.postgres, tenant, prefix, players, backlog))
        rows = 2 * posted
        thread = threading.Thread(target=relay.stream, args=(start,), daemon=True)
        began = time.perf_counter()
        thread.start()
        while relay.acked < rows and time.perf_counter() - began < 600:
            time.sleep(0.02)
        elapsed = time.perf_counter() - began
        relay.stop_event.set()
        thread.join(30)
        return {"rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed}
    finally:
        _drop(settings, slot)


def _load_count(
    dsn: str, tenant: str, prefix: str, players: list[str], transfers: int
) -> list[float]:
    """Post exactly `transfers` transfers with 16 clients (the backlog)."""
    per = transfers // 16
    done: list[list[float]] = [[] for _ in range(16)]

    def client(i: int) -> None:
        rng = random.Random(i)
        with Ledger(dsn) as ledger:
            for n in range(per):
                started = time.perf_counter()
                ledger.post(
                    f"{prefix}-b{i}-{n}",
                    rng.choice(("deposit", "win")),
                    tenant,
                    "bench",
                    rng.choice(players),
                    "EUR",
                    rng.randint(100, 5_000),
                )
                done[i].append(time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [s for per_client in done for s in per_client]


def bench_commit_to_ack(
    settings: Settings,
    players: list[str],
    tenant: str,
    prefix: str,
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    slot = f"bench_{uuid.uuid4().hex[:8]}"
    relay, start = _relay(settings, slot)
    relay.latencies = []
    thread = threading.Thread(target=relay.stream, args=(start,), daemon=True)
    thread.start()
    try:
        posts = _load(settings.postgres, tenant, prefix, players, 16, seconds, total_rate=rate)
        time.sleep(2)
        relay.stop_event.set()
        thread.join(30)
        lat = relay.latencies
        return {
            "target_transfers_per_s": rate,
            "achieved_transfers_per_s": len(posts) / seconds,
            "records": len(lat),
            "p50_ms": _pct(lat, 0.5) * 1000,
            "p99_ms": _pct(lat, 0.99) * 1000,
        }
    finally:
        _drop(settings, slot)


def run(
    settings: Settings,
    runs: int = 3,
    seconds: float = 8.0,
    backlog: int = 20_000,
    rate: float = 2_000.0,
) -> dict[str, Any]:
    migrate(settings.postgres)
    tenant = f"bench{uuid.uuid4().hex[:6]}"
    players = _setup_players(settings.postgres, tenant, 2_000)
    results = {"posting": [], "cdc_catch_up": [], "cdc_commit_to_ack": []}
    for i in range(runs):
        results["posting"].append(
            bench_posting(settings.postgres, players, tenant, f"{tenant}r{i}", seconds)
        )
        results["cdc_catch_up"].append(
            bench_catch_up(settings, players, tenant, f"{tenant}u{i}", backlog)
        )
        results["cdc_commit_to_ack"].append(
            bench_commit_to_ack(settings, players, tenant, f"{tenant}a{i}", rate, seconds)
        )
    summary = {
        "benchmark": "ledger",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": runs,
        "posting": summarise(results["posting"]),
        "cdc_catch_up": summarise(results["cdc_catch_up"]),
        "cdc_commit_to_ack": summarise(results["cdc_commit_to_ack"]),
        "goals": {
            "posting_p95_ms": 150,
            "cdc_catch_up_rows_per_s": 20_000,
            "cdc_commit_to_ack_p99_ms": 100,
        },
    }
    return write("ledger", summary)
