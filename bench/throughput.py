"""Worker throughput as the drain of one fixed, mixed backlog, side by side with a no-op Faust
agent on the same events, and the same backlog drained by two worker processes (scaling).

    .venv/bin/wagerstream bench throughput [--runs 3] [--events 150000] [--processes 1,2]
        [--variant NAME:ENV=VALUE,ENV=VALUE ...]

The backlog is produced once per invocation: `events` Kafka events of the simulated operator
(`loadgen/operator.py`, deterministic for its seeds), appended to the input topics; its
offsets are recorded before and after. Every measured worker is a new consumer group whose
offsets are committed at the backlog's first offset, so each drains exactly those events,
in the same mix (pinned per topic in the JSON), and the figure is events divided by the time
from the first event handled to the last. A window over an endless backlog is not used: Faust
round-robins topics, so a window catches a different mix each time (a cheap topic drained
alone looked 2.4 times faster).

Variants alternate within a round (full, no-op, a plain confluent-kafka loop, the extra process
counts, each `--variant`), so they see the same machine noise; ratios are taken within a round,
medians over rounds. The no-op agent runs with the same settings as the full worker (batch
size and wait, event loop, monitor), so its ratio compares like with like; the plain loop
(`plain_loop`) is the framework-free reference.
"""

from __future__ import annotations

import itertools
import statistics
import time
import uuid
from typing import Any

import httpx
import orjson
from confluent_kafka import Consumer, TopicPartition

from bench.results import save
from foundation.kafka import client_config
from foundation.settings import Settings
from foundation.units import HOUR_MS
from loadgen.operator import kafka_events
from loadgen.producer import EventProducer
from tooling.promstats import scrape
from tooling.supervisor import Child, Supervisor, free_port, rss_mb, worker
from topics.admin import Offsets, commit_group, end_offsets
from topics.catalogue import CONSUMED_TOPICS, INPUT_TOPICS
from topics.deadletter import decode_checked
from topics.serde import AvroSerde

INPUT_AGENTS = ("players", "noop")  # the agent that consumes the input topics in each mode
STATE_TABLES = ("player_risk", "open_bets")
POLL_S = 0.5  # each poll costs the worker a /metrics page: a drain's end is known to ±0.25 s


def produce_backlog(settings: Settings, events: int) -> tuple[Offsets, dict[str, int]]:
    """Append `events` simulated events; returns where they start (on every topic a worker
    consumes: its internal topics start empty for it too) and how many per input topic."""
    before = end_offsets(settings.kafka, CONSUMED_TOPICS, settings.topic_partitions)
    producer = EventProducer(settings.kafka, AvroSerde(registry_url=settings.schema_registry_url))
    start = int(time.time() * 1000) - 4 * HOUR_MS
    for topic, record in itertools.islice(kafka_events(f"tp{uuid.uuid4().hex[:6]}", start), events):
        producer.send(topic, record)
    producer.flush(600)
    after = end_offsets(settings.kafka, INPUT_TOPICS, settings.topic_partitions)
    mix = {
        t: n
        for t in INPUT_TOPICS
        if (n := sum(after[t, p] - before[t, p] for p in range(settings.topic_partitions)))
    }
    if sum(mix.values()) != events:
        raise RuntimeError(
            f"produced {events} events but the topics grew by {mix}: is another producer running?"
        )
    return before, mix


def _handled(port: int) -> dict[str, float]:
    """Input events handled so far per topic, from the worker's own counter."""
    out: dict[str, float] = {}
    for labels, value in scrape(port, "wagerstream_events_out_total"):
        if labels.get("agent") in INPUT_AGENTS and labels["topic"] in INPUT_TOPICS:
            out[labels["topic"]] = out.get(labels["topic"], 0.0) + value
    return out


def state_bytes(settings: Settings, app_id: str) -> dict[str, float]:
    """Mean bytes of the latest changelog value per key, and the number of keys, per table."""
    consumer = Consumer(client_config(settings, **{"group.id": f"{app_id}-sizes"}))
    out: dict[str, float] = {}
    try:
        for table in STATE_TABLES:
            topic = f"{app_id}-{table}-changelog"
            parts = [TopicPartition(topic, p, 0) for p in range(settings.topic_partitions)]
            ends = {p.partition: consumer.get_watermark_offsets(p, timeout=10)[1] for p in parts}
            consumer.assign(parts)
            latest: dict[bytes, int] = {}
            done = {p for p, end in ends.items() if end == 0}
            while len(done) < len(ends):
                for msg in consumer.consume(10_000, 1.0):
                    if msg.error() is None:
                        latest[msg.key()] = len(msg.value() or b"")
                        if msg.offset() + 1 >= ends[msg.partition()]:
                            done.add(msg.partition())
            sizes = [size for size in latest.values() if size]
            out[f"{table}_keys"] = len(sizes)
            out[f"{table}_bytes_per_key"] = statistics.fmean(sizes) if sizes else 0.0
            out[f"{table}_changelog_records"] = sum(ends.values())
    finally:
        consumer.close()
    return out


def drain(
    settings: Settings,
    start: Offsets,
    mix: dict[str, int],
    agents: str = "all",
    processes: int = 1,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Time `processes` workers of a new group take to handle exactly the backlog."""
    app_id = f"bench-tp-{agents}{processes}-{uuid.uuid4().hex[:6]}"
    commit_group(settings.kafka, app_id, start)
    total = sum(mix.values())
    workers: list[tuple[Child, int]] = []
    with Supervisor().running() as sup:
        for i in range(processes):
            port = free_port()
            workdir = settings.stack_dir / "bench" / app_id / str(i)
            child_env = {
                "WAGERSTREAM_APP_ID": app_id,
                "WAGERSTREAM_STATE_DIR": str(workdir / "state"),
                "WAGERSTREAM_WORKER_AGENTS": agents,
                "WAGERSTREAM_LOG_LEVEL": "WARNING",
                **(env or {}),
            }
            child = sup.start(worker(f"worker{i}", workdir / "worker.log", port, child_env), None)
            workers.append((child, port))

        def handled() -> dict[str, float]:
            out: dict[str, float] = {}
            for _, port in workers:
                try:
                    counts = _handled(port)
                except (httpx.HTTPError, OSError):
                    continue  # not serving /metrics yet
                for topic, n in counts.items():
                    out[topic] = out.get(topic, 0.0) + n
            return out

        first: float | None = None
        finished: dict[str, float] = {}
        deadline = time.monotonic() + 300 + total / 200  # 200 events/s would be a 10x regression
        while len(finished) < len(mix):
            sup.check()
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(
                    f"{app_id}: waited {deadline - now:.0f} s for {total} events, "
                    f"handled {handled()}"
                )
            counts = handled()
            if first is None and sum(counts.values()) > 0:
                first = now - POLL_S / 2  # it started somewhere in the last poll interval
            for topic, n in mix.items():
                if topic not in finished and counts.get(topic, 0) >= n:
                    finished[topic] = now
            time.sleep(POLL_S)
        rss = [rss_mb(child.pid) for child, _ in workers]
        counts = handled()
    assert first is not None
    seconds = max(finished.values()) - first
    result: dict[str, Any] = {
        "events_per_s": total / seconds,
        "drain_s": seconds,
        # a topic's rate while it drained: Faust interleaves topics, so these overlap in time
        "per_topic_events_per_s": {t: mix[t] / max(POLL_S, finished[t] - first) for t in mix},
        "handled_beyond_backlog": sum(counts.values()) - total,  # redeliveries, 0 normally
        "rss_mb_per_worker": statistics.fmean(rss),
    }
    if agents == "all" and processes == 1 and not env:
        result["state"] = state_bytes(settings, app_id)
    return result


def plain_loop(settings: Settings, start: Offsets, mix: dict[str, int]) -> dict[str, Any]:
    """The framework-free reference: one confluent-kafka consumer over the same backlog doing
    the worker's decode and contract checks and a comparable per-player state update (a dict
    per player, orjson-encoded once per changed player per second, as a write-back would).
    No rules, no Redis, no changelog: what Python itself costs per event on this machine."""
    assignments = [
        TopicPartition(t, p, start[t, p]) for t in mix for p in range(settings.topic_partitions)
    ]
    ends = end_offsets(settings.kafka, tuple(mix), settings.topic_partitions)
    group = f"bench-plain-{uuid.uuid4().hex[:6]}"
    consumer = Consumer(client_config(settings, **{"group.id": group, "enable.auto.commit": False}))
    serde = AvroSerde(registry_url=settings.schema_registry_url)
    total = sum(mix.values())
    state: dict[str, dict[str, int]] = {}
    changed: set[str] = set()
    handled = 0
    consumer.assign(assignments)
    try:
        began = time.monotonic()
        last_flush = began
        deadline = began + 300 + total / 200
        while handled < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"plain loop: {handled} of {total} events in time")
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is not None or msg.offset() >= ends[msg.topic(), msg.partition()]:
                    continue
                _, record = decode_checked(serde, msg.topic(), msg.value(), msg.key(), 10**12)
                key = f"{record.get('tenant_id')}:{record.get('player_id')}"
                player = state.setdefault(key, {"events": 0, "stake": 0})
                player["events"] += 1
                player["stake"] += record.get("stake_minor") or 0
                changed.add(key)
                handled += 1
            if time.monotonic() - last_flush >= 1.0:
                for k in changed:
                    orjson.dumps(state[k])
                changed.clear()
                last_flush = time.monotonic()
        seconds = time.monotonic() - began
    finally:
        consumer.close()
    return {"events_per_s": total / seconds, "drain_s": seconds, "players": len(state)}


def parse_variant(spec: str) -> tuple[str, dict[str, str]]:
    """`name:ENV=VALUE,ENV=VALUE` → (name, env); a worker with all agents and those settings."""
    name, _, assignments = spec.partition(":")
    env = dict(a.split("=", 1) for a in assignments.split(",") if a)
    if not name or not env or any(not k.isupper() for k in env):
        raise ValueError(f"variant {spec!r}: expected NAME:SETTING=VALUE[,SETTING=VALUE]")
    return name, env


def run(
    settings: Settings,
    runs: int = 3,
    events: int = 150_000,
    processes: tuple[int, ...] = (1, 2),
    variants: tuple[str, ...] = (),
) -> dict[str, Any]:
    start, mix = produce_backlog(settings, events)
    parsed = [parse_variant(v) for v in variants]
    rounds = []
    for _ in range(runs):
        full = drain(settings, start, mix)
        noop = drain(settings, start, mix, agents="noop")
        plain = plain_loop(settings, start, mix)
        row: dict[str, Any] = {
            "full": full,
            "noop": noop,
            "plain_confluent_kafka": plain,
            "ratio_to_noop": full["events_per_s"] / noop["events_per_s"],
            "ratio_to_plain": full["events_per_s"] / plain["events_per_s"],
        }
        for n in processes:
            if n > 1:
                many = drain(settings, start, mix, processes=n)
                row[f"processes_{n}"] = many
                row[f"scaling_{n}_vs_1"] = many["events_per_s"] / full["events_per_s"]
        for name, env in parsed:
            variant = drain(settings, start, mix, env=env)
            row[f"variant_{name}"] = variant
            row[f"ratio_{name}_to_full"] = variant["events_per_s"] / full["events_per_s"]
        rounds.append(row)
    return save(
        "throughput",
        rounds,  # each figure: median and range over the rounds
        backlog_events=events,
        backlog_per_topic=mix,
        variants={name: env for name, env in parsed},
        settings={
            "worker_batch_max": settings.worker_batch_max,
            "topic_partitions": settings.topic_partitions,
        },
    )
