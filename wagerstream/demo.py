"""The demo: a local stack, a worker, synthetic bets, and what the read models say afterwards."""

from __future__ import annotations

import time

import redis
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from loadgen.bets import generate
from loadgen.producer import EventProducer
from sinks.redis_models import model_key
from topics.admin import create_topics
from topics.catalogue import CONSUMED_TOPICS
from wagerstream.promstats import histogram_buckets, quantile
from wagerstream.serde import AvroSerde
from wagerstream.settings import Settings, get_settings
from wagerstream.stack.manager import Stack
from wagerstream.workers import consumer_lag, start_worker, stop_worker, wait_healthy


def _fmt_seconds(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"


def _catch_up(s: Settings, console: Console, timeout: float = 900) -> None:
    """Let the worker first replay what is already in the topics (earlier runs, tests), so the
    demo's own traffic is judged on its own."""
    topics = CONSUMED_TOPICS
    lag = consumer_lag(s.kafka, s.app_id, topics, s.topic_partitions)
    if lag == 0:
        return
    with Progress(console=console) as progress:
        task = progress.add_task(f"catching up on {lag} earlier events", total=lag)
        deadline = time.monotonic() + timeout
        while lag > 0 and time.monotonic() < deadline:
            time.sleep(1)
            lag = consumer_lag(s.kafka, s.app_id, topics, s.topic_partitions)
            progress.update(task, completed=progress.tasks[0].total - lag)


def run_demo(bets: int, tenant: str, console: Console) -> int:
    s = get_settings()
    console.rule("local stack")
    Stack(s).up()
    report = create_topics(s.kafka, s.topic_partitions, s.topic_replication)
    console.print(f"topics: {len(report.created)} created, {len(report.existing)} already there")

    console.rule("worker")
    log = s.stack_dir / "logs" / "worker.log"
    worker = start_worker(log)
    try:
        wait_healthy(s.worker_web_port, worker)
        console.print(
            f"worker up (pid {worker.pid}, log {log}, metrics "
            f"http://127.0.0.1:{s.worker_web_port}/metrics)"
        )

        console.rule("traffic")
        traffic = generate(tenant, bets)
        producer = EventProducer(s.kafka, AvroSerde(registry_url=s.schema_registry_url))
        started = time.monotonic()
        with Progress(console=console) as progress:
            task = progress.add_task("sending", total=len(traffic.events))
            for topic, record in traffic.events:
                producer.send(topic, record)
                progress.advance(task)
            producer.flush()
        console.print(
            f"sent {len(traffic.events)} events ({bets} bets) in {time.monotonic() - started:.1f} s"
        )

        r = redis.Redis.from_url(s.redis, decode_responses=True)
        keys = {p: model_key(s.redis_prefix, tenant, "bets", p) for p in traffic.expected}
        want = {p: v for p, v in traffic.expected.items()}

        def observed() -> dict[str, tuple[int, int]]:
            pipe = r.pipeline(transaction=False)
            for p in keys:
                pipe.hmget(keys[p], "open_count", "open_stake_minor")
            return {
                p: (int(c or 0), int(st or 0))
                for p, (c, st) in zip(keys, pipe.execute(), strict=True)
            }

        deadline = time.monotonic() + 180
        got = observed()
        while got != want and time.monotonic() < deadline:
            time.sleep(0.5)
            got = observed()
        console.print(
            f"read models settled {time.monotonic() - started:.1f} s after the first event"
        )

        console.rule("open bets (Redis read model ws:{tenant}:bets:{player})")
        table = Table("player", "open_count", "open_stake_minor", "matches ground truth")
        for p in sorted(got, key=lambda p: -got[p][1])[:10]:
            table.add_row(p, str(got[p][0]), str(got[p][1]), "yes" if got[p] == want[p] else "NO")
        console.print(table)
        ok = sum(got[p] == want[p] for p in want)
        console.print(
            f"players matching ground truth: {ok}/{len(want)}; open bets "
            f"{sum(v[0] for v in got.values())} (expected "
            f"{sum(v[0] for v in want.values())}), open stake "
            f"{sum(v[1] for v in got.values())} (expected "
            f"{sum(v[1] for v in want.values())})"
        )

        console.rule("settle lag (wagerstream_settle_lag_seconds, event time)")
        lags = histogram_buckets(s.worker_web_port, "wagerstream_settle_lag_seconds", "product")
        table = Table("product", "settled", "p50", "p95", "p99")
        for product, buckets in sorted(lags.items()):
            table.add_row(
                product,
                f"{buckets[-1][1]:.0f}",
                *(_fmt_seconds(quantile(buckets, q)) for q in (0.5, 0.95, 0.99)),
            )
        console.print(table)
    finally:
        stop_worker(worker)
    console.rule("done")
    console.print(
        "The stack is still running. Inspect it with `wagerstream stack status` or "
        f"`redis-cli -p {s.redis_port} hgetall {s.redis_prefix}:{tenant}:bets:<player>`;"
        " start a worker with `wagerstream worker`; stop everything with "
        "`wagerstream stack down`."
    )
    return 0 if ok == len(want) else 1
