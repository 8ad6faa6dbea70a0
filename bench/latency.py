"""Produce → visible in the Redis read model, at a fixed rate below the worker's maximum.

    .venv/bin/wagerstream bench latency [--runs 3] [--seconds 60] [--rate N]
        [--variant NAME:SETTING=VALUE[,SETTING=VALUE] ...]

A fresh worker (`WAGERSTREAM_WORKER_OFFSET_RESET=latest`, so it skips the retained backlog) gets
mixed
simulated traffic at `rate` events/s; by default half the full worker's median from the newest
throughput result, the issue's "half the maximum". One event in `PROBE_EVERY` is a probe: a
`bet.placed` of a player never seen before, so its `ws:{tenant}:bets:{player}` hash appears
exactly when the worker has written that event's read model. A poller checks the outstanding
probes' keys every 2 ms; latency is from just before `produce()` to the first poll that sees
the key, so it includes the producer's linger, the broker, Faust's batching and Redis.

With `--variant`, each round runs a worker with the defaults and then one per variant, at the
same rate, so each pair sees the same machine; the result (`<date>-latency-variants.json`)
gives each variant's percentiles and its p50/p99 ratios to the defaults of the same round.
"""

from __future__ import annotations

import itertools
import json
import statistics
import threading
import time
import uuid
from typing import Any

import redis

from bench.results import RESULTS, save
from bench.throughput import parse_variant
from foundation.settings import Settings
from foundation.units import HOUR_MS
from loadgen.bets import generate
from loadgen.operator import kafka_events
from loadgen.producer import EventProducer
from sinks.read_models import model_key
from tooling.supervisor import Supervisor, cpu_s, free_port, worker
from topics.serde import AvroSerde

PROBE_EVERY = 20
POLL_S = 0.002


def default_rate() -> float:
    """Half the full worker's median input rate in the newest throughput result."""
    found = sorted(RESULTS.glob("*-throughput.json"))
    if not found:
        raise RuntimeError(
            "no throughput result to take half of: run `wagerstream bench throughput` first "
            "or pass --rate"
        )
    return json.loads(found[-1].read_text())["median"]["full"]["events_per_s"] / 2


class ProbeWatcher(threading.Thread):
    """Polls the read-model keys of outstanding probes; records when each became visible."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url)
        self.pending: dict[str, float] = {}
        self.latencies_ms: list[float] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def expect(self, key: str, sent_at: float) -> None:
        with self.lock:
            self.pending[key] = sent_at

    def run(self) -> None:
        while not self.stopped.is_set():
            with self.lock:
                keys = list(self.pending)
            if keys:
                pipe = self.client.pipeline(transaction=False)
                for key in keys:
                    pipe.exists(key)
                seen_at = time.monotonic()
                found = [key for key, hit in zip(keys, pipe.execute(), strict=True) if hit]
                with self.lock:
                    for key in found:
                        self.latencies_ms.append((seen_at - self.pending.pop(key)) * 1000)
            time.sleep(POLL_S)


def probe_bet(
    settings: Settings, watcher: ProbeWatcher, template: dict[str, Any], player: str
) -> tuple[str, dict[str, Any]]:
    """A bet of a player never seen before, whose read model the watcher waits for."""
    tenant = template["tenant_id"]
    watcher.expect(model_key(settings.redis_prefix, tenant, "bets", player), time.monotonic())
    record = {**template, "player_id": player, "event_id": str(uuid.uuid4()),
              "bet_id": f"{player}-bet", "occurred_at": int(time.time() * 1000)}  # fmt: skip
    return "bet.placed", record


def probe_template() -> dict[str, Any]:
    tenant = f"lat-{uuid.uuid4().hex[:6]}"
    return next(r for t, r in generate(tenant, 1, players=1).events if t == "bet.placed")


def _background(rate: float, seconds: float) -> list[tuple[str, dict[str, Any]]]:
    """Enough mixed operator events for the run (Kafka events only)."""
    start = int(time.time() * 1000) - 4 * HOUR_MS
    events = kafka_events(f"lat{uuid.uuid4().hex[:6]}", start)
    return list(itertools.islice(events, int(rate * seconds * 1.1) + 1))


def measure(
    settings: Settings, rate: float, seconds: float, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    app_id = f"bench-lat-{uuid.uuid4().hex[:6]}"
    template = probe_template()
    tenant = template["tenant_id"]
    background = _background(rate, seconds)
    port = free_port()
    workdir = settings.stack_dir / "bench" / app_id
    env = {
        "WAGERSTREAM_APP_ID": app_id,
        "WAGERSTREAM_STATE_DIR": str(workdir / "state"),
        "WAGERSTREAM_WORKER_OFFSET_RESET": "latest",
        "WAGERSTREAM_LOG_LEVEL": "WARNING",
        **(extra or {}),
    }
    sup = Supervisor()
    producer = EventProducer(settings.kafka, AvroSerde(registry_url=settings.schema_registry_url))
    watcher = ProbeWatcher(settings.redis)
    try:
        child = sup.start(worker("worker", workdir / "worker.log", port, env), timeout=300)
        watcher.start()
        began = time.monotonic()
        cpu_began = cpu_s(child.pid)
        sent = probes = 0
        while (now := time.monotonic()) < began + seconds:
            due = int((now - began) * rate)
            while sent < due:
                if sent % PROBE_EVERY == 0:
                    producer.send(*probe_bet(settings, watcher, template, f"{tenant}-{probes}"))
                    probes += 1
                else:
                    topic, record = background[sent % len(background)]
                    producer.send(topic, record)
                sent += 1
            time.sleep(0.001)
        elapsed = time.monotonic() - began
        cpu = cpu_s(child.pid) - cpu_began
        achieved = sent / elapsed
        producer.flush()
        deadline = time.monotonic() + 30
        while watcher.pending and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watcher.stopped.set()
        sup.check()
        sup.stop_all()
    return {
        "rate_per_s": achieved,
        # the worker's CPU over the measured seconds: what the batch settings cost per event
        "worker_cpu_us_per_event": cpu / sent * 1e6,
        "worker_cpu_share": cpu / elapsed,
        **percentiles(watcher, f"see {workdir}"),
    }


def percentiles(watcher: ProbeWatcher, where: str) -> dict[str, float]:
    """p50/p95/p99/max of the probes that became visible, and how many never did."""
    lat = sorted(watcher.latencies_ms)
    if len(lat) < 2:
        raise RuntimeError(f"only {len(lat)} probes became visible: {where}")
    cuts = statistics.quantiles(lat, n=100, method="inclusive")
    return {
        "probes": len(lat) + len(watcher.pending),
        "probes_never_visible": len(watcher.pending),
        "p50_ms": cuts[49],
        "p95_ms": cuts[94],
        "p99_ms": cuts[98],
        "max_ms": lat[-1],
    }


def run(
    settings: Settings,
    runs: int = 3,
    seconds: float = 60,
    rate: float | None = None,
    variants: tuple[str, ...] = (),
) -> dict[str, Any]:
    target = rate or default_rate()
    parsed = [parse_variant(v) for v in variants]
    if not parsed:
        results = [measure(settings, target, seconds) for _ in range(runs)]
        return save("latency", results, target_rate_per_s=target, seconds=seconds)
    rounds = []
    for _ in range(runs):
        defaults = measure(settings, target, seconds)
        row: dict[str, Any] = {"defaults": defaults}
        for name, env in parsed:
            variant = row[f"variant_{name}"] = measure(settings, target, seconds, env)
            for cut in ("p50_ms", "p99_ms"):
                row[f"{cut[:3]}_ratio_{name}_to_defaults"] = variant[cut] / defaults[cut]
        rounds.append(row)
    return save(
        "latency-variants",
        rounds,
        target_rate_per_s=target,
        seconds=seconds,
        variants={name: env for name, env in parsed},
    )
