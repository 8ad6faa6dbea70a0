"""`wagerstream chaos`: faults under load, then reconciliation that proves nothing was lost or
counted twice.

A fleet of its own (CDC relay on a new slot, workers, ClickHouse sink on its own embedded
engine; new consumer groups that start at the end of the topics) gets the simulated operator's
traffic while, round after round, these faults are injected one at a time:

* `worker_kill`: kill -9 a worker, start it again (static membership: same instance id)
* `relay_kill`: kill -9 the CDC relay, start it again
* `kafka_restart`: stop the broker, start it again
* `redis_stop`: stop Redis for `outage_s`, start it again
* `sink_fail`: every ClickHouse insert fails for `outage_s` (WAGERSTREAM_MARTS_FAULT_FILE)
* `scale_out_in`: two more workers join the group under load, then leave (1 → 3 → 1 for one)
* `kafka_restart_lagging`: the workers are paused until they lag, the broker restarts, they
  go on
* `worker_kill_recovering`: kill -9 a worker, restart it on an empty state directory (its
  tables come back from their changelogs) and kill it again during that recovery
* `relay_kill_snapshot`: the relay's slot is dropped so that it snapshots the ledger again,
  and it is killed -9 during the snapshot
* `redis_sink_restart`: Redis and the ClickHouse sink go down together and come back
* `worker_stall`: SIGSTOP a worker past the session timeout (its partitions move), SIGCONT

Recovery time is from the end of a fault (the process restarted, the service back) until the
affected part is healthy again and the pipeline has made progress (worker events or sink rows
counted after that moment). Meanwhile worker and sink memory is sampled: a sink that is down
must make them pause, not buffer without bound.

When the traffic is played and everything drained, three reconciliations run over the
simulation's tenants: every ledger entry is in ClickHouse exactly once (the same entry ids,
and per player and account the same count and sum), every wallet projection in Redis equals
the ledger, and every signal on the Kafka signal topics is in ClickHouse once, with no window
signalled twice and every labelled pattern signalled.
"""

from __future__ import annotations

import json
import shutil
import signal
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from confluent_kafka import Consumer, Message, TopicPartition
from rich.console import Console
from rich.table import Table

from foundation.kafka import client_config
from foundation.settings import Settings
from ledger.cdc import drop_slot
from ledger.migrate import migrate as migrate_ledger
from loadgen.operator import HOUR_MS, simulate
from loadgen.producer import EventProducer
from loadgen.runner import PlayStats, play
from tooling.demo import Fleet, stop_fleet
from tooling.promstats import scrape
from tooling.reconcile import reconcile
from tooling.stack.manager import Kafka, Redis, Stack
from tooling.supervisor import Child, Supervisor, free_port, memory_mb, query_sink, rss_mb
from topics.admin import consumer_lag, create_topics, start_group_at_end
from topics.catalogue import CONSUMED_TOPICS, FACT_TOPICS, SIGNAL_TOPICS
from topics.serde import AvroSerde

FAULTS = (
    "worker_kill",
    "relay_kill",
    "kafka_restart",
    "redis_stop",
    "sink_fail",
    "scale_out_in",
    "kafka_restart_lagging",
    "worker_kill_recovering",
    "relay_kill_snapshot",
    "redis_sink_restart",
    "worker_stall",
)
OUTAGE_FAULTS = ("redis_stop", "sink_fail", "redis_sink_restart")
# traffic seconds a fault takes, besides its outage (for sizing the simulated traffic)
FAULT_SECONDS = {"scale_out_in": 40, "worker_stall": 25, "kafka_restart_lagging": 30}
RECOVERY_TIMEOUT_S = 180.0
SIM_HOURS = 4.0  # of simulated play, squeezed into the run (the patterns need a few hours)


@dataclass
class ChaosOptions:
    rounds: int = 2
    outage_s: float = 30.0
    players: int = 400
    per_pattern: int = 3
    workers: int = 2
    seed: int = 11
    pause_s: float = 5.0  # between faults: normal operation
    faults: tuple[str, ...] = FAULTS
    minutes: float = 0.0  # at least this much traffic (faults spread over it)
    hours: float = 0.0  # soak: repeat the rounds for this long, sampling memory


@dataclass
class FaultResult:
    fault: str
    round: int
    recovery_s: float
    rss_mb_before: float
    rss_mb_peak: float


@dataclass
class ChaosReport:
    faults: list[FaultResult] = field(default_factory=list)
    entries_checked: int = 0
    wallets_checked: int = 0
    signals_checked: int = 0
    differences: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    traffic_s: float = 0.0
    duplicate_rows: int = 0  # redelivered rows ClickHouse holds twice until a merge
    resent_signals: int = 0  # signal records sent again after a crash (same signal_id)
    failure: str | None = None  # what stopped the run before its end, if anything
    rss_samples: list[tuple[float, float]] = field(default_factory=list)  # (s, fleet MB)
    # (s, process name, pid, RSS MB, anonymous MB): a restarted process is a new pid, so its
    # slope is its own; the verdict on a leak is the anonymous part (`memory_mb`)
    process_samples: list[tuple[float, str, int, float, float]] = field(default_factory=list)

    @property
    def total_differences(self) -> int:
        return sum(self.differences.values())

    def recovery(self) -> dict[str, float]:
        times = [f.recovery_s for f in self.faults]
        return {"p50_s": statistics.median(times), "max_s": max(times)} if times else {}

    def rss_slope_mb_per_h(self) -> float | None:
        """Least-squares slope of fleet memory over the second half of the run. The fleet's
        sum moves with its faults (a restarted worker starts small, a scale-out adds two), so
        the per-process slopes below are the ones that say whether memory levels off."""
        return second_half_slope([(t, mb) for t, mb in self.rss_samples])

    def processes(self) -> dict[str, dict[str, float | None]]:
        """Per process still running at the end: its last life's memory and the slopes over
        the second half of that life (a process that levels off is near 0 there). The
        anonymous slope is the verdict; RSS also counts library pages as they are touched."""
        out: dict[str, dict[str, float | None]] = {}
        last_pid = {name: pid for _, name, pid, _, _ in self.process_samples}
        for name, pid in sorted(last_pid.items()):
            life = [s for s in self.process_samples if s[1] == name and s[2] == pid]
            rss = [(t, mb) for t, _, _, mb, _ in life]
            anon = [(t, mb) for t, _, _, _, mb in life]
            slope, anon_slope = second_half_slope(rss), second_half_slope(anon)
            out[name] = {
                "lived_min": round((life[-1][0] - life[0][0]) / 60, 1),
                "first_mb": round(rss[0][1]),
                "peak_mb": round(max(mb for _, mb in rss)),
                "last_mb": round(rss[-1][1]),
                "slope_second_half_mb_per_h": None if slope is None else round(slope, 1),
                "anon_first_mb": round(anon[0][1]),
                "anon_last_mb": round(anon[-1][1]),
                "anon_slope_second_half_mb_per_h": (
                    None if anon_slope is None else round(anon_slope, 1)
                ),
            }
        return out

    def summary(self) -> dict[str, Any]:
        """What `bench/results/<date>-chaos.json` holds."""
        kinds: dict[str, list[float]] = {}
        for f in self.faults:
            kinds.setdefault(f.fault, []).append(f.recovery_s)
        by_kind = {
            k: {
                "count": len(v),
                "recovery_p50_s": round(statistics.median(v), 1),
                "recovery_max_s": round(max(v), 1),
            }
            for k, v in sorted(kinds.items())
        }
        rss = [mb for _, mb in self.rss_samples]
        slope = self.rss_slope_mb_per_h()
        return {
            "faults": len(self.faults),
            "kinds": len(kinds),
            "traffic_minutes": round(self.traffic_s / 60, 1),
            "faults_by_kind": by_kind,
            "recovery": {k: round(v, 1) for k, v in self.recovery().items()},
            "checked": {
                "ledger_entries": self.entries_checked,
                "wallets": self.wallets_checked,
                "signals": self.signals_checked,
            },
            "differences": self.differences,
            "lost": sum(v for k, v in self.differences.items() if "missing" in k),
            "duplicated": {
                "rows_until_merge": self.duplicate_rows,
                "signals_resent_same_id": self.resent_signals,
            },
            "fleet_rss_mb": {
                "first": round(rss[0]) if rss else None,
                "peak": round(max(rss)) if rss else None,
                "last": round(rss[-1]) if rss else None,
                "slope_second_half_mb_per_h": None if slope is None else round(slope, 1),
            },
            "failure": self.failure,
            "process_rss": self.processes(),
            "notes": self.notes,
        }


def second_half_slope(samples: list[tuple[float, float]]) -> float | None:
    """Least-squares slope in MB/h of (seconds, MB) samples over their second half in time:
    the first half is warm-up (caches and tables filling), the second shows a leak."""
    if not samples:
        return None
    middle = (samples[0][0] + samples[-1][0]) / 2
    half = [(t, mb) for t, mb in samples if t >= middle]
    if len(half) < 3:
        return None
    xs, ys = [t / 3600 for t, _ in half], [mb for _, mb in half]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else None


def _metric(port: int, name: str) -> float:
    try:
        return sum(v for _, v in scrape(port, name))
    except (httpx.HTTPError, OSError):
        return -1.0  # not answering (yet)


class ChaosRun:
    def __init__(self, base: Settings, opts: ChaosOptions, console: Console) -> None:
        run = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + uuid.uuid4().hex[:4]
        home = base.stack_dir / "chaos" / run
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.fault_file = home / "sink-fails"
        self.s = base.model_copy(
            update={
                "app_id": f"chaos-{run}",
                "cdc_slot": f"chaos_{run}",
                "clickhouse_url": f"chdb://{home / 'clickhouse'}",
                "state_dir": home / "state",
                "worker_web_port": free_port(),
                "marts_port": free_port(),
                "cdc_metrics_port": free_port(),
            }
        )
        self.opts = opts
        self.console = console
        self.tenant = f"chaos-{run}"
        # stopped at exit, whatever happens; logs in the run's folder, kept when it fails
        self.fleet = Fleet(self.s, Supervisor(), log_dir=home / "logs")
        self.extra = {"WAGERSTREAM_MARTS_FAULT_FILE": str(self.fault_file)}
        self.tenants: list[str] = []
        self.player: threading.Thread | None = None
        # the fleet's consumer groups and what each consumes
        self.groups = ((self.s.app_id, CONSUMED_TOPICS), (f"{self.s.app_id}-marts", FACT_TOPICS))
        self._sampling = threading.Event()
        self._began = time.monotonic()

    # --- the fleet ----------------------------------------------------------------------
    def _worker_env(self, i: int) -> dict[str, str]:
        return {
            **self.extra,
            "WAGERSTREAM_WORKER_INSTANCE_ID": f"{self.s.app_id}-{i}",
            "WAGERSTREAM_STUCK_SCAN_S": "5",
            "WAGERSTREAM_STATE_DIR": str(self.s.state_path / f"w{i}"),
        }

    def start_relay(self) -> None:
        self.fleet.relay(RECOVERY_TIMEOUT_S, **self.extra)

    def start_worker(self, i: int) -> None:
        self.fleet.worker(i, RECOVERY_TIMEOUT_S, **self._worker_env(i))

    def start_sink(self) -> None:
        self.fleet.sink(180, **self.extra)

    def healthy(self) -> bool:
        self.fleet.supervisor.check()  # a fault must never kill a process for good
        try:
            for i in range(self.opts.workers):
                port = self.s.worker_web_port + i
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code != 200:
                    return False
            return httpx.get(f"http://127.0.0.1:{self.s.marts_port}/health", timeout=2).is_success
        except httpx.HTTPError:
            return False

    def progress(self) -> float:
        ports = [self.s.worker_web_port + i for i in range(self.opts.workers)]
        values = [_metric(p, "wagerstream_events_out_total") for p in ports]
        values.append(_metric(self.s.marts_port, "wagerstream_marts_rows_total"))
        return -1.0 if min(values) < 0 else sum(values)

    def loading(self) -> bool:
        """True while the generator still plays: progress can only be asked for under load."""
        return self.player is not None and self.player.is_alive()

    def rss(self) -> float:
        children = self.fleet.children.items()
        return sum(rss_mb(c.pid) for n, c in children if n != "cdc" and c.running)

    def _sample_memory(self, report: ChaosReport) -> None:
        """Fleet RSS every 10 s while the traffic plays (the soak's slope comes from it)."""
        while not self._sampling.wait(10):
            now = time.monotonic() - self._began
            running = [(n, c.pid) for n, c in self.fleet.children.items() if c.running]
            sizes = [(n, pid, *memory_mb(pid)) for n, pid in running]
            report.rss_samples.append((now, sum(mb for n, _, mb, _ in sizes if n != "cdc")))
            report.process_samples.extend(
                (now, n, pid, mb, anon) for n, pid, mb, anon in sizes if mb
            )

    def _workers(self) -> list[Child]:
        return [self.fleet.children[f"worker{i}"] for i in range(self.opts.workers)]

    def _recovering(self, child: Child) -> Callable[[], bool]:
        """True once the restarted worker is up but not ready: recovering its tables."""

        def recovering() -> bool:
            assert child.health_url is not None
            try:
                return httpx.get(child.health_url, timeout=1).status_code == 503
            except httpx.HTTPError:
                return False

        return recovering

    # --- faults -------------------------------------------------------------------------
    def inject(self, fault: str) -> None:
        """Apply one fault and undo it; returns when the fault is over (not yet recovered)."""
        if fault == "worker_kill":
            self.fleet.children["worker0"].kill()
            self.fleet.worker(0, **self._worker_env(0))
        elif fault == "relay_kill":
            self.fleet.children["cdc"].kill()
            self.start_relay()
        elif fault == "kafka_restart":
            broker = Kafka(self.s)
            broker.down()
            broker.up()
        elif fault == "redis_stop":
            redis = Redis(self.s)
            redis.down()
            time.sleep(self.opts.outage_s)
            redis.up()
        elif fault == "sink_fail":
            self.fault_file.touch()
            time.sleep(self.opts.outage_s)
            self.fault_file.unlink()
        elif fault == "scale_out_in":
            extra = range(self.opts.workers, self.opts.workers + 2)  # 1 → 3 → 1 for one worker
            for i in extra:
                self.fleet.worker(i, None, **self._worker_env(i))
            for i in extra:
                child = self.fleet.children[f"worker{i}"]
                self.fleet.supervisor.wait(
                    child.is_ready, f"{child.name} ready", RECOVERY_TIMEOUT_S
                )
            time.sleep(self.opts.pause_s)
            for i in extra:
                self.fleet.children[f"worker{i}"].stop()
        elif fault == "kafka_restart_lagging":
            workers = self._workers()
            for child in workers:
                child.signal(signal.SIGSTOP)
            try:
                time.sleep(min(self.s.session_timeout_s, 8))  # traffic piles up meanwhile
                broker = Kafka(self.s)
                broker.down()
                broker.up()
            finally:
                for child in workers:
                    child.signal(signal.SIGCONT)
        elif fault == "worker_kill_recovering":
            self.fleet.children["worker0"].kill()
            empty = {
                **self._worker_env(0),
                "WAGERSTREAM_STATE_DIR": str(self.home / f"empty-{uuid.uuid4().hex[:6]}"),
            }
            child = self.fleet.worker(0, None, **empty)
            self.fleet.supervisor.wait(
                self._recovering(child), "worker0 recovering its tables", 60, every=0.1
            )
            child.kill()
            self.fleet.worker(0, None, **empty)
        elif fault == "relay_kill_snapshot":
            self.fleet.children["cdc"].kill()
            drop_slot(self.s.postgres, self.s.cdc_slot)  # the next start snapshots the ledger
            child = self.fleet.relay(None, **self.extra)
            self.fleet.supervisor.wait(
                lambda: "snapshot of the ledger" in child.log.read_text(errors="replace"),
                "the relay's snapshot to start", 60, every=0.05,
            )  # fmt: skip
            child.kill()
            self.start_relay()
        elif fault == "redis_sink_restart":
            redis = Redis(self.s)
            self.fleet.children["sink"].stop()
            redis.down()
            time.sleep(self.opts.outage_s / 2)
            redis.up()
            self.start_sink()
        elif fault == "worker_stall":
            child = self._workers()[-1]
            child.signal(signal.SIGSTOP)
            try:
                time.sleep(self.s.session_timeout_s + 5)  # past the session: partitions move
            finally:
                child.signal(signal.SIGCONT)
        else:
            raise ValueError(f"unknown fault {fault!r}: choose from {', '.join(FAULTS)}")

    def recover(self) -> float:
        """Seconds until everything is healthy and the pipeline counted new work."""
        began = time.monotonic()
        deadline = began + RECOVERY_TIMEOUT_S
        while not self.healthy():
            if time.monotonic() > deadline:
                raise TimeoutError(f"not healthy {RECOVERY_TIMEOUT_S:.0f} s after the fault")
            time.sleep(0.2)
        baseline = self.progress()
        while self.progress() <= baseline and self.loading():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no progress {RECOVERY_TIMEOUT_S:.0f} s after the fault")
            time.sleep(0.2)
        return time.monotonic() - began

    def fault_with_memory(self, fault: str, round_: int) -> FaultResult:
        before = self.rss()
        peak = [before]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                peak.append(self.rss())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            self.inject(fault)
            recovery = self.recover()
        finally:
            stop.set()
            sampler.join()
        return FaultResult(fault, round_, recovery, before, max(peak))

    # --- the run ------------------------------------------------------------------------
    def behind(self) -> int:
        """Events the groups have not committed. They were committed at the end of the topics
        before any process started, so this counts only what came since the run began."""
        return sum(
            consumer_lag(self.s.kafka, group, topics, self.s.topic_partitions)
            for group, topics in self.groups
        )

    def drain(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.behind() == 0 and self._ledger_in_clickhouse():
                return
            time.sleep(1)
        raise TimeoutError(f"not drained after {timeout:.0f} s")

    def _tenants_sql(self, tenants: list[str]) -> str:
        return ", ".join(f"'{t}'" for t in tenants)

    def _ledger_in_clickhouse(self) -> bool:
        tenants = self.tenants
        with psycopg.connect(self.s.postgres) as conn:
            want = conn.execute(
                "SELECT count(*) FROM ledger.entries WHERE tenant_id = ANY(%s)", (tenants,)
            ).fetchone()[0]
        got = query_sink(
            self.s.marts_port,
            "SELECT count() AS n FROM wagerstream.ledger_entries FINAL "
            f"WHERE tenant_id IN ({self._tenants_sql(tenants)})",
        )[0]["n"]
        return got >= want

    def run(self) -> ChaosReport:
        s, opts, console = self.s, self.opts, self.console
        console.rule("stack and fleet")
        Stack(s).up()
        create_topics(s.kafka, s.topic_partitions, s.topic_replication)
        migrate_ledger(s.postgres)
        report = ChaosReport()
        per_round = sum(
            (opts.outage_s if f in OUTAGE_FAULTS else 5)
            + FAULT_SECONDS.get(f, 0)
            + opts.pause_s
            + 5
            for f in opts.faults
        )
        rounds = opts.rounds
        if opts.hours:
            rounds = max(rounds, int(opts.hours * 3600 // per_round))
        traffic_seconds = max(rounds * per_round, opts.minutes * 60)
        # spread the faults over the traffic: the pause between them grows to fill it
        busy = (per_round - len(opts.faults) * opts.pause_s) / len(opts.faults)
        pause = max(opts.pause_s, traffic_seconds / max(1, rounds * len(opts.faults)) - busy)
        report.traffic_s = traffic_seconds
        sim_start = int(time.time() * 1000) - int(SIM_HOURS * HOUR_MS)
        traffic = simulate(
            self.tenant, opts.players, opts.seed, sim_start, SIM_HOURS, opts.per_pattern
        )
        self.tenants = list(traffic.tenants)
        try:
            self.start_relay()
            # The groups start at the end of the topics as they are now: what they held before
            # (the relay's snapshot of the whole ledger included) is not theirs. Committed up
            # front, not `auto.offset.reset=latest`, because a partition that moves before its
            # first commit (a kill, a scale-out, a stall) would skip what came in meanwhile.
            # From here on the groups must consume everything.
            for group, topics in self.groups:
                start_group_at_end(s.kafka, group, topics, s.topic_partitions)
            for i in range(opts.workers):
                self.start_worker(i)
            self.start_sink()
            console.print(
                f"relay, {opts.workers} workers and the sink up (app {s.app_id}); logs in "
                f"{self.home / 'logs'}; tenants: {', '.join(self.tenants)}"
            )
            speedup = SIM_HOURS * 3600 / traffic_seconds
            producer = EventProducer(s.kafka, AvroSerde(registry_url=s.schema_registry_url))
            stats: list[PlayStats] = []

            def load() -> None:
                stats.append(play(traffic, s.postgres, producer, speedup, sim_start, 4, False))
                producer.flush(300)

            player = self.player = threading.Thread(target=load, daemon=True)
            console.rule(f"traffic ({len(traffic.actions)} actions over ≈{traffic_seconds:.0f} s)")
            player.start()
            memory = threading.Thread(target=self._sample_memory, args=(report,), daemon=True)
            memory.start()
            for round_ in range(1, rounds + 1):
                for fault in opts.faults:
                    time.sleep(pause)
                    result = self.fault_with_memory(fault, round_)
                    report.faults.append(result)
                    console.print(
                        f"round {round_} {fault:>22}: recovered in {result.recovery_s:5.1f} s "
                        f"(fleet RSS {result.rss_mb_before:.0f} → peak {result.rss_mb_peak:.0f} MB)"
                    )
            player.join()
            self._sampling.set()
            if stats and stats[0].refused:
                report.notes.append(f"ledger refused {len(stats[0].refused)} postings")
            console.rule("drain and reconcile")
            self.drain()
            self.reconcile(report, {(x["player_id"], x["code"]) for x in traffic.labels})
        except Exception as exc:  # reported, with the memory measured up to here
            console.print_exception(max_frames=5)
            report.failure = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        finally:
            self._sampling.set()
            self.fleet.supervisor.stop_all()
            stop_fleet(s)
            self._drop_slot()
        if report.total_differences == 0 and report.failure is None:
            shutil.rmtree(self.home, ignore_errors=True)  # kept for inspection otherwise
        else:
            report.notes.append(f"logs kept in {self.home / 'logs'}")
        return report

    def _drop_slot(self) -> None:
        drop_slot(self.s.postgres, self.s.cdc_slot)

    # --- reconciliation -----------------------------------------------------------------
    def reconcile(self, report: ChaosReport, labels: set[tuple[str, str]]) -> None:
        tenants = self._tenants_sql(self.tenants)
        with psycopg.connect(self.s.postgres) as conn:
            ledger = conn.execute(
                "SELECT entry_id, player_id, account_kind, amount_minor FROM ledger.entries"
                " WHERE tenant_id = ANY(%s)",
                (self.tenants,),
            ).fetchall()
        marts = query_sink(
            self.s.marts_port,
            "SELECT entry_id, player_id, account_kind, amount_minor FROM "
            f"wagerstream.ledger_entries FINAL WHERE tenant_id IN ({tenants})",
        )
        want = {e: (p, k, a) for e, p, k, a in ledger}
        got = {r["entry_id"]: (r["player_id"], r["account_kind"], r["amount_minor"]) for r in marts}
        report.entries_checked = len(want)
        report.differences["ledger entries missing from ClickHouse"] = len(want.keys() - got.keys())
        report.differences["ClickHouse entries not in the ledger"] = len(got.keys() - want.keys())
        report.differences["entries that differ"] = sum(
            1 for e in want.keys() & got.keys() if want[e] != got[e]
        )
        sums: dict[tuple[str, str], list[int]] = {}
        for source, rows in ((0, want.values()), (1, got.values())):
            for player, kind, amount in rows:
                sums.setdefault((player, kind), [0, 0])[source] += amount
        report.differences["player/account sums that differ"] = sum(
            1 for a, b in sums.values() if a != b
        )
        physical = query_sink(
            self.s.marts_port,
            "SELECT count() - uniqExact(entry_id) AS extra FROM wagerstream.ledger_entries "
            f"WHERE tenant_id IN ({tenants})",
        )[0]["extra"]
        report.duplicate_rows = physical
        if physical:
            report.notes.append(
                f"{physical} redelivered ledger rows are stored twice until ClickHouse merges "
                "them (ReplacingMergeTree); every query reads them once (FINAL, argMax)"
            )

        checked, wallet_diffs = 0, []
        for tenant in self.tenants:
            n, diffs = reconcile(self.s.postgres, self.s.redis, self.s.redis_prefix, tenant)
            checked += n
            wallet_diffs += diffs
        report.wallets_checked = checked
        report.differences["wallet projections that differ from the ledger"] = len(wallet_diffs)

        on_kafka = self._signals_on_kafka()
        in_marts = query_sink(
            self.s.marts_port,
            "SELECT signal_id, player_id, code, window FROM wagerstream.signals FINAL "
            f"WHERE tenant_id IN ({tenants})",
        )
        ids = {r["signal_id"] for r in in_marts}
        report.signals_checked = len(on_kafka)
        report.differences["signals on Kafka missing from ClickHouse"] = len(on_kafka.keys() - ids)
        windows = [(r["player_id"], r["code"], r["window"]) for r in in_marts]
        report.differences["windows signalled twice"] = len(windows) - len(set(windows))
        signalled = {(r["player_id"], r["code"]) for r in in_marts}
        unsignalled = sorted(labels - signalled)
        report.differences["labelled patterns not signalled"] = len(unsignalled)
        if unsignalled:
            report.notes.append(
                "not signalled: "
                + ", ".join(f"{code} for {player}" for player, code in unsignalled[:20])
            )
        unjudged = self._payments_unjudged()
        report.differences["payment events missing from player state"] = len(unjudged)
        if unjudged:
            report.notes.append("missing from the player's state: " + ", ".join(unjudged[:20]))
        resent = report.resent_signals = sum(on_kafka.values()) - len(on_kafka)
        if resent:
            report.notes.append(
                f"{resent} signal records were sent again after a crash (at-least-once); each "
                "carries the same signal_id and is stored once"
            )

    def _signals_on_kafka(self) -> dict[str, int]:
        """signal_id → how many records carry it, on the signal topics, for our tenants."""
        serde = AvroSerde(registry_url=self.s.schema_registry_url)
        counts: dict[str, int] = {}

        def count(msg: Message) -> None:
            _, record = serde.decode(msg.value())
            if record["tenant_id"] in self.tenants:
                counts[record["signal_id"]] = counts.get(record["signal_id"], 0) + 1

        self._read_all(SIGNAL_TOPICS, count)
        return counts

    def _payments_unjudged(self) -> list[str]:
        """Payment events (deposits, withdrawals: one per payment id and status) on Kafka that
        their player's state never took in, as the `player_risk` changelog holds it: the rules
        remember every (payment, status) for 35 days, so after the drain each must be there.
        A lost event shows here whatever it was part of, not only when a labelled pattern
        goes unsignalled (a scale-out once lost two deposits so, and a velocity alert)."""
        serde = AvroSerde(registry_url=self.s.schema_registry_url)
        sent: dict[str, set[str]] = {}  # player key → its payments' "id|status"
        state: dict[str, set[str]] = {}

        def payment(msg: Message) -> None:
            _, record = serde.decode(msg.value())
            if record["tenant_id"] in self.tenants:
                key = f"{record['tenant_id']}:{record['player_id']}"
                sent.setdefault(key, set()).add(f"{record['payment_id']}|{record['status']}")

        def player(msg: Message) -> None:
            value = msg.value()
            key = json.loads(msg.key())
            if value is None:
                state.pop(key, None)
            elif key.split(":", 1)[0] in self.tenants:
                state[key] = set(json.loads(value).get("payments", {}))

        self._read_all(("payment.deposit", "payment.withdrawal"), payment)
        self._read_all((f"{self.s.app_id}-player_risk-changelog",), player)
        return sorted(
            f"{player_key} {status}"
            for player_key, statuses in sent.items()
            for status in statuses - state.get(player_key, set())
        )

    def _read_all(self, topics: tuple[str, ...], handle: Callable[[Message], None]) -> None:
        """Every record now on `topics`, from the start, through `handle`."""
        consumer = Consumer(client_config(self.s, **{"group.id": f"{self.s.app_id}-audit"}))
        try:
            parts = [
                TopicPartition(t, p, 0) for t in topics for p in range(self.s.topic_partitions)
            ]
            ends = {(p.topic, p.partition): consumer.get_watermark_offsets(p, 10)[1] for p in parts}
            consumer.assign(parts)
            done = {k for k, end in ends.items() if end == 0}
            deadline = time.monotonic() + 300
            while len(done) < len(ends):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{', '.join(topics)} not read to the end in 300 s")
                for msg in consumer.consume(10_000, 1.0):
                    if msg.error() is not None:
                        continue
                    key = (msg.topic(), msg.partition())
                    if msg.offset() + 1 >= ends[key]:
                        done.add(key)
                    handle(msg)
        finally:
            consumer.close()


def print_report(report: ChaosReport, console: Console) -> None:
    table = Table("round", "fault", "recovery (s)", "fleet RSS before (MB)", "peak (MB)")
    for f in report.faults:
        table.add_row(
            str(f.round), f.fault, f"{f.recovery_s:.1f}", f"{f.rss_mb_before:.0f}",
            f"{f.rss_mb_peak:.0f}",
        )  # fmt: skip
    console.print(table)
    recovery = report.recovery()
    console.print(
        f"faults injected: {len(report.faults)}; recovery p50 {recovery.get('p50_s', 0):.1f} s, "
        f"max {recovery.get('max_s', 0):.1f} s"
    )
    console.print(
        f"checked: {report.entries_checked} ledger entries, {report.wallets_checked} wallets, "
        f"{report.signals_checked} signals"
    )
    table = Table("reconciliation", "differences")
    for name, n in report.differences.items():
        table.add_row(name, str(n))
    console.print(table)
    table = Table(
        "process", "lived (min)", "RSS first → last (MB)", "MB/h", "anonymous first → last (MB)",
        "anonymous MB/h",
    )  # fmt: skip
    for name, p in report.processes().items():
        table.add_row(
            name, str(p["lived_min"]), f"{p['first_mb']} → {p['last_mb']}",
            str(p["slope_second_half_mb_per_h"]), f"{p['anon_first_mb']} → {p['anon_last_mb']}",
            str(p["anon_slope_second_half_mb_per_h"]),
        )  # fmt: skip
    console.print(table)
    for note in report.notes:
        console.print(f"note: {note}")


def run_chaos(settings: Settings, opts: ChaosOptions, console: Console) -> ChaosReport:
    report = ChaosRun(settings, opts, console).run()
    print_report(report, console)
    return report
