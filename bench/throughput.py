"""Worker throughput on a backlog, side by side with a no-op Faust agent on the same topics,
and the same backlog drained by two worker processes (scaling).

    .venv/bin/wagerstream bench throughput [--runs 3] [--events 2000000] [--seconds 45]

First the input topics are topped up with mixed events of the simulated operator
(`loadgen/operator.py`, Kafka events only) until they hold at least `events`. Then, `runs`
times: a fresh worker with all agents (its own consumer group, so it starts from the earliest
offset: a backlog), one with `WORKER_AGENTS=noop`, and two full workers sharing one group.
Each is measured over `seconds` after a warm-up, as input events/s from the processes' own
`wagerstream_events_out_total`. The three alternate, so they see the same machine noise, and
ratios are taken within a round. After each full worker, the bytes of table state per player
are read back from its `player_risk` and `open_bets` changelogs (the latest value per key).
"""

from __future__ import annotations

import itertools
import statistics
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bench.results import save
from foundation.kafka import client_config
from foundation.settings import Settings
from foundation.units import HOUR_MS
from loadgen.operator import kafka_events
from loadgen.producer import EventProducer
from tooling.promstats import scrape
from tooling.supervisor import Child, Supervisor, free_port, rss_mb, worker
from topics.admin import consumer_lag
from topics.catalogue import INPUT_TOPICS
from topics.serde import AvroSerde

INPUT_AGENTS = ("players", "noop")  # the agent that consumes the input topics in each mode
STATE_TABLES = ("player_risk", "open_bets")


def backlog(settings: Settings) -> dict[str, int]:
    """Retained events per input topic (what a new consumer group would read)."""
    probe = f"bench-backlog-{uuid.uuid4().hex[:6]}"  # never commits: lag = everything retained
    return {
        topic: consumer_lag(settings.kafka, probe, (topic,), settings.topic_partitions)
        for topic in INPUT_TOPICS
    }


def top_up(settings: Settings, events: int) -> dict[str, int]:
    """Send simulated operator traffic until the input topics retain at least `events`."""
    missing = events - sum(backlog(settings).values())
    producer = EventProducer(settings.kafka, AvroSerde(registry_url=settings.schema_registry_url))
    start = int(time.time() * 1000) - 4 * HOUR_MS
    events = kafka_events(f"tp{uuid.uuid4().hex[:6]}", start)
    for topic, record in itertools.islice(events, max(0, missing)):
        producer.send(topic, record)
    producer.flush(600)
    return backlog(settings)


def _processed(port: int) -> float:
    return sum(
        value
        for labels, value in scrape(port, "wagerstream_events_out_total")
        if labels.get("agent") in INPUT_AGENTS
    )


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
    finally:
        consumer.close()
    return out


def measure(
    settings: Settings, agents: str, seconds: float, warmup: float, processes: int = 1
) -> dict[str, Any]:
    """Input events/s of `processes` workers sharing one new consumer group."""
    app_id = f"bench-tp-{agents}{processes}-{uuid.uuid4().hex[:6]}"
    workers: list[tuple[Child, int]] = []
    with Supervisor().running() as sup:
        for i in range(processes):
            port = free_port()
            workdir = settings.stack_dir / "bench" / app_id / str(i)
            env = {
                "APP_ID": app_id,
                "STATE_DIR": str(workdir / "state"),
                "WORKER_AGENTS": agents,
                "LOG_LEVEL": "WARNING",
            }
            child = sup.start(worker(f"worker{i}", workdir / "worker.log", port, env), None)
            workers.append((child, port))
        for child, _ in workers:
            sup.wait(child.is_ready, f"{child.name} healthy", 300)
        time.sleep(warmup)
        for child, _ in workers:  # a late rebalance would stall the window: wait it out
            sup.wait(child.is_ready, f"{child.name} healthy", 300)
        before, began = sum(_processed(p) for _, p in workers), time.monotonic()
        time.sleep(seconds)
        after, ended = sum(_processed(p) for _, p in workers), time.monotonic()
        sup.check()
        rss = [rss_mb(child.pid) for child, _ in workers]
    result: dict[str, Any] = {
        "events_per_s": (after - before) / (ended - began),
        "rss_mb_per_worker": statistics.fmean(rss),
    }
    if agents == "all" and processes == 1:
        result["state"] = state_bytes(settings, app_id)
    return result


def run(
    settings: Settings,
    runs: int = 3,
    events: int = 2_000_000,
    seconds: float = 45,
    warmup: float = 15,
) -> dict[str, Any]:
    topics = top_up(settings, events)
    rounds = []
    for _ in range(runs):
        full = measure(settings, "all", seconds, warmup)
        noop = measure(settings, "noop", seconds, warmup)
        two = measure(settings, "all", seconds, warmup, processes=2)
        rounds.append(
            {
                "full": full,
                "noop": noop,
                "two_workers": two,
                "ratio_to_noop": full["events_per_s"] / noop["events_per_s"],
                "scaling_2_vs_1": two["events_per_s"] / full["events_per_s"],
            }
        )
    return save(
        "throughput",
        rounds,  # each figure: median and range over the rounds
        backlog_events=sum(topics.values()),
        backlog_per_topic=topics,
        seconds=seconds,
    )
