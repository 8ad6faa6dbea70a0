"""Worker throughput on a backlog, side by side with a no-op Faust agent on the same topics.

    .venv/bin/wagerstream bench throughput [--runs 3] [--events 300000] [--seconds 45]

First the topics are topped up with at least `events` mixed events of the simulated operator
(`loadgen/operator.py`, Kafka events only). Then, `runs` times, a fresh worker (its own
consumer group, so it starts from the earliest offset: a backlog) runs with all agents, and
another with `WORKER_AGENTS=noop`; each is measured over `seconds` after a warm-up, as input
events/s from its own `wagerstream_events_out_total`. Full and no-op alternate, so both see
the same machine noise, and the ratio is taken per pair.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.ledger import RESULTS, _median
from loadgen.operator import simulate
from loadgen.producer import EventProducer
from wagerstream.promstats import scrape
from wagerstream.serde import AvroSerde
from wagerstream.settings import Settings
from wagerstream.workers import free_port, start_worker, stop_worker, wait_healthy

INPUT_AGENTS = ("players", "noop")  # the agent that consumes the input topics in each mode


def prefill(settings: Settings, events: int) -> int:
    producer = EventProducer(settings.kafka, AvroSerde(registry_url=settings.schema_registry_url))
    sent, chunk = 0, 0
    start = int(time.time() * 1000) - 4 * 3_600_000
    run = uuid.uuid4().hex[:6]
    while sent < events:
        traffic = simulate(f"tp{run}-{chunk}", 2000, chunk, start, per_pattern=2)
        for action in traffic.actions:
            if action.topic is not None and action.record is not None:
                producer.send(action.topic, action.record)
                sent += 1
        chunk += 1
    producer.flush(300)
    return sent


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _processed(port: int) -> float:
    return sum(
        value
        for labels, value in scrape(port, "wagerstream_events_out_total")
        if labels.get("agent") in INPUT_AGENTS
    )


def measure(settings: Settings, agents: str, seconds: float, warmup: float) -> dict[str, Any]:
    app_id = f"bench-tp-{agents}-{uuid.uuid4().hex[:6]}"
    port = free_port()
    workdir = settings.stack_dir / "bench" / app_id
    proc = start_worker(
        workdir / "worker.log",
        {
            "APP_ID": app_id,
            "WORKER_WEB_PORT": str(port),
            "STATE_DIR": str(workdir / "state"),
            "WORKER_AGENTS": agents,
            "LOG_LEVEL": "WARNING",
        },
    )
    try:
        wait_healthy(port, proc, timeout=300)
        time.sleep(warmup)
        before, began = _processed(port), time.monotonic()
        time.sleep(seconds)
        after, ended = _processed(port), time.monotonic()
        return {"events_per_s": (after - before) / (ended - began), "rss_mb": _rss_mb(proc.pid)}
    finally:
        stop_worker(proc)


def run(
    settings: Settings,
    runs: int = 3,
    events: int = 300_000,
    seconds: float = 45,
    warmup: float = 10,
) -> dict[str, Any]:
    sent = prefill(settings, events)
    pairs = []
    for _ in range(runs):
        full = measure(settings, "all", seconds, warmup)
        noop = measure(settings, "noop", seconds, warmup)
        pairs.append(
            {"full": full, "noop": noop, "ratio": full["events_per_s"] / noop["events_per_s"]}
        )
    summary = {
        "benchmark": "throughput",
        "date": datetime.now(UTC).date().isoformat(),
        "prefilled_events": sent,
        "seconds": seconds,
        "median": _median(pairs),  # full, noop, ratio: median and range of each figure
        "runs": pairs,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{summary['date']}-throughput.json").write_text(json.dumps(summary, indent=2))
    return summary
