"""A Grand-National-shaped day for a fleet of two workers: how much it sustains, how deep a
pre-race burst pushes its lag, how long it takes to drain, and produce → Redis latency.

    .venv/bin/wagerstream bench peak [--workers 2] [--step-s 45] [--burst-s 300]

Three phases against one fleet (a new consumer group started at the end of the topics):

1. **Sustained rate.** Mixed operator traffic (`loadgen/operator.py`) paced at a rate that
   grows by `STEP_FACTOR` every `step_s`. A step is *flat* when the group's lag (committed
   offsets against the high watermarks) grew by less than `FLAT_SHARE` of what the step sent;
   the highest flat step is the sustained rate.
2. **The off.** The day's base load is a fifth of the sustained rate; for `burst_s` (five
   minutes, as before the off) bets come at ten times the base on top of it (68,000 bets a
   minute at the 2017 Grand National, about ten times an ordinary Saturday afternoon), then the
   base goes on. Reported: the lag when the burst ends and the seconds until it is back
   under a second of base traffic.
3. **Latency at half the sustained rate**: produce → visible in Redis, p50/p95/p99, with the
   probes of `bench/latency.py`.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from bench.latency import PROBE_EVERY, ProbeWatcher, percentiles, probe_bet, probe_template
from bench.results import save
from foundation.settings import Settings
from foundation.units import HOUR_MS
from loadgen.operator import kafka_events
from loadgen.producer import EventProducer
from tooling.supervisor import Supervisor, free_port, worker
from topics.admin import consumer_lag, start_group_at_end
from topics.catalogue import CONSUMED_TOPICS
from topics.serde import AvroSerde

STEP_FACTOR = 1.25
FLAT_SHARE = 0.1
BURST_FACTOR = 10


class Pacer:
    """Sends events at `rate()` per second from a background thread, counting what it sent."""

    def __init__(self, producer: EventProducer, events: Iterator[tuple[str, dict[str, Any]]]):
        self.producer = producer
        self.events = events
        self.sent = 0
        self.rate: Callable[[], float] = lambda: 0.0
        self.probe: Callable[[int], tuple[str, dict[str, Any]] | None] = lambda n: None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pacer")
        self.failure: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.producer.flush(60)

    def _run(self) -> None:
        try:
            owed, last = 0.0, time.monotonic()
            while not self._stop.is_set():
                now = time.monotonic()
                owed += (now - last) * self.rate()
                last = now
                while owed >= 1:
                    probe = self.probe(self.sent)
                    self.producer.send(*(probe or next(self.events)))
                    self.sent += 1
                    owed -= 1
                time.sleep(0.002)
        except BaseException as exc:  # the benchmark's waits raise it
            self.failure = exc


def _mixed(prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    return kafka_events(prefix, int(time.time() * 1000) - 4 * HOUR_MS)


def _bets(prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    return ((t, r) for t, r in _mixed(prefix) if t == "bet.placed")


def run(
    settings: Settings,
    workers: int = 2,
    start_rate: float = 500.0,
    step_s: float = 45.0,
    burst_s: float = 300.0,
    latency_s: float = 60.0,
) -> dict[str, Any]:
    app_id = f"bench-peak-{uuid.uuid4().hex[:6]}"
    start_group_at_end(settings.kafka, app_id, CONSUMED_TOPICS, settings.topic_partitions)
    serde = AvroSerde(registry_url=settings.schema_registry_url)

    def lag() -> int:
        return consumer_lag(settings.kafka, app_id, CONSUMED_TOPICS, settings.topic_partitions)

    def settled_lag() -> int:
        """The least of three readings a second apart: committed offsets move in steps of a
        commit interval, so one reading can be a few seconds of traffic high."""
        readings = []
        for _ in range(3):
            readings.append(lag())
            time.sleep(1)
        return min(readings)

    result: dict[str, Any] = {"workers": workers}
    with Supervisor().running() as sup:
        for i in range(workers):
            workdir = settings.stack_dir / "bench" / app_id / str(i)
            env = {
                "WAGERSTREAM_APP_ID": app_id,
                "WAGERSTREAM_STATE_DIR": str(workdir / "state"),
                "WAGERSTREAM_LOG_LEVEL": "WARNING",
            }
            sup.start(worker(f"worker{i}", workdir / "worker.log", free_port(), env), None)
        for child in sup.children.values():
            sup.wait(child.is_ready, f"{child.name} healthy", 300)

        def pace(events: Iterator[tuple[str, dict[str, Any]]]) -> Pacer:
            pacer = Pacer(EventProducer(settings.kafka, serde), events)
            pacer.start()
            return pacer

        def check(*pacers: Pacer) -> None:
            sup.check()
            for p in pacers:
                if p.failure is not None:
                    raise RuntimeError(f"the load generator failed: {p.failure!r}")

        # 1. the highest rate with flat lag
        mixed = pace(_mixed(f"pk{uuid.uuid4().hex[:6]}"))
        steps: list[dict[str, float]] = []
        rate = start_rate
        try:
            # warm-up, not judged: the lag of a fleet at rest grows to its commit interval's
            mixed.rate = lambda: start_rate
            sup.wait(lambda: mixed.sent >= start_rate * step_s, "the warm-up", step_s * 4)
            while True:
                mixed.rate = lambda r=rate: r
                before, sent0 = settled_lag(), mixed.sent
                deadline = time.monotonic() + step_s
                while time.monotonic() < deadline:
                    check(mixed)
                    time.sleep(1)
                grew, sent = settled_lag() - before, mixed.sent - sent0
                steps.append({"rate_per_s": rate, "sent": sent, "lag_growth": grew})
                print(f"{rate:.0f} events/s for {step_s:.0f} s: lag grew by {grew}", flush=True)
                if grew > FLAT_SHARE * sent or len(steps) >= 20:
                    break
                rate *= STEP_FACTOR
            flat = [s["rate_per_s"] for s in steps if s["lag_growth"] <= FLAT_SHARE * s["sent"]]
            sustained = max(flat) if flat else 0.0
            result["sustained_per_s"] = sustained
            result["steps"] = steps
            if not sustained:
                raise RuntimeError(
                    f"not even {start_rate}/s was sustained (steps: {steps}): lower --start-rate"
                )

            # let the search's backlog drain at the base load before the day's shape starts
            base = sustained / 5
            mixed.rate = lambda: base
            sup.wait(lambda: lag() < base, "the search's backlog drained", 900,
                     progress=lambda: f"lag {lag()}")  # fmt: skip

            # 2. the off: ten times the base in bets for burst_s, on top of the base
            bets = pace(_bets(f"gn{uuid.uuid4().hex[:6]}"))
            try:
                bets.rate = lambda: base * (BURST_FACTOR - 1)
                ends = time.monotonic() + burst_s
                while time.monotonic() < ends:
                    check(mixed, bets)
                    time.sleep(1)
                bets.rate = lambda: 0.0
            finally:
                bets.stop()
            burst_ended = time.monotonic()
            result["burst"] = {
                "base_per_s": base,
                "peak_per_s": base * BURST_FACTOR,
                "seconds": burst_s,
                "lag_at_end": lag(),
            }
            sup.wait(lambda: lag() < base, "the burst's lag drained", 3600,
                     progress=lambda: f"lag {lag()}")  # fmt: skip
            result["burst"]["drain_s"] = time.monotonic() - burst_ended

            # 3. produce → Redis at half the sustained rate
            result["latency"] = _latency(settings, mixed, sustained / 2, latency_s, check)
        finally:
            mixed.stop()
    return save("peak", [result], workers=workers, step_s=step_s, burst_s=burst_s)


def _latency(
    settings: Settings,
    mixed: Pacer,
    rate: float,
    seconds: float,
    check: Callable[..., None],
) -> dict[str, float]:
    template = probe_template()
    watcher = ProbeWatcher(settings.redis)
    watcher.start()
    probes = itertools.count()

    def probe(n: int) -> tuple[str, dict[str, Any]] | None:
        if n % PROBE_EVERY:
            return None
        player = f"{template['tenant_id']}-probe{next(probes)}"
        return probe_bet(settings, watcher, template, player)

    try:
        mixed.probe = probe
        mixed.rate = lambda: rate
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            check(mixed)
            time.sleep(1)
        mixed.probe = lambda n: None
        deadline = time.monotonic() + 30
        while watcher.pending and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watcher.stopped.set()
    return {"rate_per_s": rate, **percentiles(watcher, "at half the sustained rate")}
