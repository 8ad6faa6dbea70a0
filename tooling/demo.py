"""`wagerstream demo`: the whole system on this machine, ending in a report.

Stack up, topics, ledger migrations; the CDC relay, the workers and the ClickHouse sink as
background processes; a simulated operator (`loadgen/operator.py`) with a kick-off burst and
labelled risk patterns played through the ledger and Kafka; then signals scored against the
labels, KPIs from the marts, and `report/index.html`. The fleet keeps running afterwards so
the user can query it; `wagerstream demo --stop` stops it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from agents.rules.config import default as risk_config
from foundation.settings import Settings
from ledger.migrate import migrate as migrate_ledger
from loadgen.operator import HOUR_MS, PATTERNS, simulate
from loadgen.producer import EventProducer
from loadgen.runner import play
from tooling import report, supervisor
from tooling.promstats import histogram_buckets, quantile, scrape
from tooling.stack.manager import Stack
from tooling.supervisor import Child, Supervisor, query_sink
from topics.admin import consumer_lag, create_topics, start_group_at_end
from topics.catalogue import CONSUMED_TOPICS, FACT_TOPICS
from topics.serde import AvroSerde


@dataclass
class DemoOptions:
    players: int = 2000
    per_pattern: int = 10
    hours: float = 4.0
    rate: float = 1500.0  # average actions/s; the burst goes above it
    seed: int = 7
    tenant: str = "demo"
    workers: int = 1
    report_dir: Path = Path("report")
    keep_running: bool = True  # the fleet outlives the demo (False: it dies with it, as in tests)


@dataclass
class Fleet:
    """The demo's background processes under the supervisor, remembered in
    WAGERSTREAM_STACK_DIR/demo-<WAGERSTREAM_APP_ID>.json for --stop. They outlive the demo (the
    user queries them
    afterwards), so the supervisor does not stop them at exit."""

    settings: Settings
    supervisor: Supervisor = field(
        default_factory=lambda: Supervisor(stop_at_exit=False, interrupt_main=True)
    )
    log_dir: Path | None = None  # default WAGERSTREAM_STACK_DIR/logs/demo-<name>.log

    def env(self, **extra: str) -> dict[str, str]:
        s = self.settings
        return {
            "WAGERSTREAM_APP_ID": s.app_id,
            "WAGERSTREAM_CLICKHOUSE_URL": s.clickhouse,
            "WAGERSTREAM_CDC_SLOT": s.cdc_slot,
            "WAGERSTREAM_CDC_METRICS_PORT": str(s.cdc_metrics_port),
            "WAGERSTREAM_MARTS_PORT": str(s.marts_port),
            "WAGERSTREAM_STATE_DIR": str(s.state_path),
            "WAGERSTREAM_KAFKA_BOOTSTRAP_SERVERS": s.kafka,
            "WAGERSTREAM_POSTGRES_DSN": s.postgres,
            "WAGERSTREAM_CDC_POSTGRES_DSN": s.cdc_postgres,
            "WAGERSTREAM_REDIS_URL": s.redis,
            **extra,
        }

    def log(self, name: str) -> Path:
        if self.log_dir is not None:
            return self.log_dir / f"{name}.log"
        return self.settings.stack_dir / "logs" / f"demo-{name}.log"

    def start(self, child: Child, timeout: float | None = None) -> Child:
        child.env = self.env(**child.env)
        self.supervisor.start(child, timeout)
        self.remember()
        return child

    def relay(self, timeout: float | None = None, **env: str) -> Child:
        port = self.settings.cdc_metrics_port
        return self.start(supervisor.relay("cdc", self.log("cdc"), port, env), timeout)

    def worker(self, i: int, timeout: float | None = None, **env: str) -> Child:
        port = self.settings.worker_web_port + i
        name = f"worker{i}"
        return self.start(supervisor.worker(name, self.log(name), port, env), timeout)

    def sink(self, timeout: float | None = None, **env: str) -> Child:
        port = self.settings.marts_port
        return self.start(supervisor.sink("sink", self.log("sink"), port, env), timeout)

    @property
    def children(self) -> dict[str, Child]:
        return self.supervisor.children

    def remember(self) -> None:
        known = {
            n: {"pid": c.pid, "health": c.health_url, "log": str(c.log)}
            for n, c in self.children.items()
            if c.running
        }
        _pid_file(self.settings).write_text(json.dumps(known))

    def worker_ports(self) -> list[int]:
        return [self.settings.worker_web_port + i for i in range(len(self.workers()))]

    def workers(self) -> list[str]:
        return [n for n in self.children if n.startswith("worker")]

    def wait_ready(self, timeout: float) -> None:
        for child in self.children.values():
            self.supervisor.wait(child.is_ready, f"{child.name} ready", timeout)


def _pid_file(settings: Settings) -> Path:
    return settings.stack_dir / f"demo-{settings.app_id}.json"


def _remembered(settings: Settings) -> dict[str, dict[str, Any]]:
    path = _pid_file(settings)
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def _is_ours(pid: int) -> bool:
    """The pid is still a wagerstream process (pids are reused)."""
    try:
        return b"wagerstream" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def fleet_status(settings: Settings) -> list[dict[str, Any]]:
    """The processes a demo left running: pid, whether it runs, and what its /health says."""
    rows = []
    for name, known in _remembered(settings).items():
        running = _is_ours(known["pid"])
        health = "-"
        if running and known.get("health"):
            try:
                reply = httpx.get(known["health"], timeout=2)
                health = "healthy" if reply.status_code == 200 else reply.json().get("reason", "")
                health = health or f"unhealthy ({reply.status_code})"
            except (httpx.HTTPError, ValueError) as exc:
                health = f"not answering ({type(exc).__name__})"
        rows.append({"name": name, "pid": known["pid"], "running": running, "health": health,
                     "log": known.get("log", "")})  # fmt: skip
    return rows


def stop_fleet(settings: Settings) -> list[str]:
    """Stop what a previous demo left running (only processes that are still wagerstream)."""
    remembered = _remembered(settings)
    stopped = []
    for name, known in remembered.items():
        if _is_ours(known["pid"]):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(known["pid"], signal.SIGTERM)
            stopped.append(name)
    pids = [known["pid"] for known in remembered.values()]
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    _pid_file(settings).unlink(missing_ok=True)
    return stopped


def _wait_lag(s: Settings, fleet: Fleet, what: str, timeout: float = 1200) -> None:
    """Until the workers' and the sink's groups have committed everything; fails at once
    when a process of the fleet exits, and says how far behind it is every 10 s."""
    left = {"events": -1}

    def lag() -> int:
        return consumer_lag(s.kafka, s.app_id, CONSUMED_TOPICS, s.topic_partitions) + consumer_lag(
            s.kafka, f"{s.app_id}-marts", FACT_TOPICS, s.topic_partitions
        )

    def caught_up() -> bool:
        left["events"] = lag()
        return left["events"] == 0

    fleet.supervisor.wait(caught_up, what, timeout, progress=lambda: f"{left['events']} behind")


def _latency_buckets(ports: list[int]) -> dict[float, float]:
    """Produce → Redis histogram of every worker, summed: upper bound → cumulative count."""
    total: dict[float, float] = {}
    for port in ports:
        for _, buckets in histogram_buckets(port, "wagerstream_produce_to_model_seconds",
                                            "agent").items():  # fmt: skip
            for upper, count in buckets:
                total[upper] = total.get(upper, 0.0) + count
    return total


def _latency_ms(before: dict[float, float], after: dict[float, float]) -> dict[str, float]:
    """Quantiles of the events handled between two readings (the traffic, not the catch-up
    on what the topics held before it)."""
    merged = sorted((upper, count - before.get(upper, 0.0)) for upper, count in after.items())
    if not merged or merged[-1][1] <= 0:
        return {}
    return {f"p{int(q * 100)}": quantile(merged, q) * 1000 for q in (0.5, 0.95, 0.99)}


def _sum_metric(port: int, name: str) -> float:
    try:
        return sum(v for labels, v in scrape(port, name))
    except httpx.HTTPError:
        return 0.0


def run_demo(s: Settings, opts: DemoOptions, console: Console) -> dict[str, Any]:
    """The demo; a fleet process that exits fails it at once, naming the process."""
    sup = Supervisor(stop_at_exit=not opts.keep_running, interrupt_main=True)
    fleet = Fleet(s, sup)
    try:
        return _run_demo(s, opts, console, fleet)
    except KeyboardInterrupt:
        fleet.supervisor.check()
        raise
    finally:
        fleet.supervisor.release()


def _run_demo(s: Settings, opts: DemoOptions, console: Console, fleet: Fleet) -> dict[str, Any]:
    console.rule("local stack")
    Stack(s).up()
    topics = create_topics(s.kafka, s.topic_partitions, s.topic_replication)
    console.print(f"topics: {len(topics.created)} created, {len(topics.existing)} already there")
    migrate_ledger(s.postgres)
    stopped = stop_fleet(s)
    if stopped:
        console.print(f"stopped the previous demo's {', '.join(stopped)}")

    console.rule("relay, workers, ClickHouse sink")
    fleet.relay(timeout=600)  # a new slot snapshots the ledger first
    # A new group would first replay everything the topics hold (other runs, the tests, the
    # snapshot just taken): the demo's report is about its own tenant, so a group seen for the
    # first time starts at the end; a group that ran before goes on from where it was.
    for group, consumed in ((s.app_id, CONSUMED_TOPICS), (f"{s.app_id}-marts", FACT_TOPICS)):
        skipped = start_group_at_end(s.kafka, group, consumed, s.topic_partitions, True)
        if skipped:
            console.print(f"{group}: new group, starts after the {skipped} events already there")
    for i in range(opts.workers):
        fleet.worker(
            i,
            WAGERSTREAM_WORKER_INSTANCE_ID=f"demo-{i}",
            WAGERSTREAM_STUCK_SCAN_S="5",
            WAGERSTREAM_STATE_DIR=str(s.state_path / f"demo-{i}"),
        )
    fleet.sink()
    fleet.wait_ready(timeout=180)
    console.print(f"{opts.workers} worker(s), relay and sink up; logs in {s.stack_dir / 'logs'}")
    _wait_lag(s, fleet, "catching up on what the topics already hold")

    console.rule("traffic")
    sim_start = int(time.time() * 1000) - int(opts.hours * HOUR_MS)
    traffic = simulate(
        opts.tenant, opts.players, opts.seed, sim_start, opts.hours, opts.per_pattern
    )
    counts = traffic.counts()
    speedup = opts.rate * opts.hours * 3600 / max(1, len(traffic.actions))
    console.print(
        f"{counts['players']} players, {counts['events']} events, "
        f"{counts['postings']} ledger postings, {counts['labels']} labelled patterns; "
        f"{opts.hours} h of play at {speedup:.0f}x"
    )
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        began = time.monotonic()
        while not done.is_set():
            total = sum(
                _sum_metric(p, "wagerstream_events_out_total") for p in fleet.worker_ports()
            )
            samples.append((time.monotonic() - began, total))
            time.sleep(1)

    latency_before = _latency_buckets(fleet.worker_ports())
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    producer = EventProducer(s.kafka, AvroSerde(registry_url=s.schema_registry_url))
    stats = play(traffic, s.postgres, producer, speedup, sim_start)
    console.print(
        f"sent {stats.actions} actions in {stats.seconds:.1f} s "
        f"({stats.rate:.0f}/s); ledger refused {len(stats.refused)}"
    )
    _wait_lag(s, fleet, "workers and sink draining")
    labels = {(x["player_id"], x["code"]) for x in traffic.labels}
    tenants = ", ".join(f"'{t}'" for t in traffic.tenants)

    def signals() -> set[tuple[str, str]]:
        rows = query_sink(
            s.marts_port,
            f"SELECT player_id, code FROM wagerstream.signals FINAL WHERE tenant_id IN ({tenants})",
        )
        return {(r["player_id"], r["code"]) for r in rows}

    deadline = time.monotonic() + 60  # stuck bets of quiet players come from a 5 s timer
    got = signals()
    while not labels <= got and time.monotonic() < deadline:
        time.sleep(2)
        _wait_lag(s, fleet, "draining")
        got = signals()
    done.set()
    sampler.join()
    scores = report.score(labels, got, PATTERNS)

    console.rule("results")
    kpis = query_sink(
        s.marts_port,
        f"""SELECT toString(day) AS day, brand_id, jurisdiction, reporting_currency,
        handle_minor, ggr_minor, ngr_minor, deposits_minor, withdrawals_minor, ftd_count,
        active_players, bets_count, unconverted_currencies
        FROM wagerstream.kpi_daily_reporting WHERE tenant_id IN ({tenants})
        ORDER BY day, brand_id, jurisdiction""",
    )
    alerts = query_sink(
        s.marts_port,
        f"""SELECT topic, code, severity, jurisdiction, player_id, value_minor,
        threshold_minor, window, evidence, toString(occurred_at) AS occurred_at
        FROM wagerstream.signals FINAL WHERE tenant_id IN ({tenants})""",
    )
    lags = query_sink(
        s.marts_port,
        "SELECT product, dateDiff('millisecond', placed_at, settled_at) AS lag "
        f"FROM wagerstream.bet_lifecycle WHERE tenant_id IN ({tenants}) "
        "AND is_placed > 0 AND is_settled > 0",
    )
    by_product: dict[str, list[int]] = {}
    for row in lags:
        by_product.setdefault(row["product"], []).append(row["lag"])
    fresh = [
        r["f"]
        for r in query_sink(
            s.marts_port,
            "SELECT dateDiff('millisecond', commit_ts, inserted_at) "
            f"AS f FROM wagerstream.ledger_entries WHERE tenant_id IN ({tenants}) "
            f"AND op = 'c' AND commit_ts >= fromUnixTimestamp64Milli({sim_start})",
        )
    ]
    latency = _latency_ms(latency_before, _latency_buckets(fleet.worker_ports()))
    bonuses = {
        r["status"]: r["n"]
        for r in query_sink(
            s.marts_port,
            "SELECT status, count() AS n FROM wagerstream.bonus_wagering "
            f"WHERE tenant_id IN ({tenants}) GROUP BY status",
        )
    }

    throughput = [
        (t1, (v1 - v0) / (t1 - t0)) for (t0, v0), (t1, v1) in itertools.pairwise(samples) if t1 > t0
    ]
    sent = [
        (t1, (a1 - a0) / (t1 - t0))
        for (t0, a0), (t1, a1) in zip(stats.timeline, stats.timeline[1:], strict=False)
        if t1 > t0
    ]
    summary = {
        "players": counts["players"],
        "events sent": counts["events"],
        "ledger postings": counts["postings"],
        "sending took (s)": round(stats.seconds, 1),
        "peak worker events/s": round(max((v for _, v in throughput), default=0)),
        "freshness p50 / p99 (ms)": (
            f"{report.percentile(fresh, 0.5):.0f} / {report.percentile(fresh, 0.99):.0f}"
        ),
        "produce → Redis p50 / p99 (ms)": (
            f"{latency.get('p50', float('nan')):.0f} / {latency.get('p99', float('nan')):.0f}"
        ),
        "ledger refusals": len(stats.refused),
        "bonuses granted: converted / forfeited / still open": (
            f"{sum(bonuses.values())}: {bonuses.get('converted', 0)} / "
            f"{bonuses.get('forfeited', 0)} / "
            f"{bonuses.get('active', 0) + bonuses.get('completed', 0)}"
        ),
    }
    index = report.write(
        opts.report_dir,
        report.ReportData(
            summary=summary,
            kpis=kpis,
            signals=alerts,
            scores=scores,
            freshness_ms=fresh,
            latency_ms=latency,
            settle_lags_ms=by_product,
            throughput=throughput,
            sent=sent,
            kickoff_s=(traffic.kickoff_ms - sim_start) / 1000 / speedup,
            minor_units=risk_config().fx.minor_units,
        ),
    )

    table = Table("day", "brand", "jurisdiction", "currency", "handle", "GGR", "NGR", "FTD")
    for k in kpis:
        cur = k["reporting_currency"]
        table.add_row(
            k["day"], k["brand_id"], k["jurisdiction"], cur,
            *(report.money(k[f], cur, risk_config().fx.minor_units)
              for f in ("handle_minor", "ggr_minor", "ngr_minor")),
            str(k["ftd_count"]),
        )  # fmt: skip
    console.print(table)
    table = Table("pattern", "labelled", "signalled", "precision", "recall")
    for sc in scores:
        table.add_row(
            sc.code, str(sc.labelled), str(sc.signalled), f"{sc.precision:.2f}", f"{sc.recall:.2f}"
        )
    console.print(table)
    table = Table("figure", "value")
    for k, v in summary.items():
        table.add_row(k, str(v))
    console.print(table)
    console.rule("done")
    console.print(
        f"Report: {index.resolve()}\nThe stack, the relay, {opts.workers} worker(s) and the "
        "ClickHouse sink keep running. Query the marts with `.venv/bin/wagerstream query "
        '"SELECT * FROM wagerstream.kpi_daily"`, read models with `redis-cli -p '
        f"{s.redis_port} hgetall {s.redis_prefix}:{opts.tenant}:aml:<player>`. Stop the demo's "
        "processes with `.venv/bin/wagerstream demo --stop`, the stack with "
        "`.venv/bin/wagerstream stack down`."
    )
    return {"scores": scores, "report": index, "summary": summary, "refused": stats.refused,
            "kpis": kpis, "signals": alerts, "bonuses": bonuses}  # fmt: skip
