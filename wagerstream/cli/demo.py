"""`wagerstream demo`, `chaos` and `reconcile`: the whole pipeline on the local stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from foundation.settings import get_settings
from wagerstream.cli.common import Hours, PerPattern, Players, Seed, console, fail


def demo(
    players: Players = 2000,
    per_pattern: PerPattern = 10,
    hours: Hours = 4.0,
    rate: Annotated[float, typer.Option(help="Average actions/s (the burst goes above).")] = 1500,
    seed: Seed = 7,
    tenant: Annotated[
        str | None, typer.Option(help="Tenant id; default demo-<time>, one tenant per run.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    report_dir: Annotated[Path, typer.Option(help="Where the report goes.")] = Path("report"),
    stop: Annotated[bool, typer.Option("--stop", help="Stop the demo's processes.")] = False,
    status: Annotated[
        bool, typer.Option("--status", help="Show the demo's processes and their health.")
    ] = False,
) -> None:
    """Stack up, relay, workers, sink; a simulated operator with a kick-off burst and labelled
    risk patterns; then KPIs, signals scored against the labels, and report/index.html."""
    from tooling.demo import DemoOptions, fleet_status, run_demo, stop_fleet

    s = get_settings()
    if status:
        rows = fleet_status(s)
        table = Table("process", "pid", "state", "health", "log")
        for r in rows:
            state = "[green]running" if r["running"] else "[red]gone"
            table.add_row(r["name"], str(r["pid"]), state, r["health"], r["log"])
        console.print(table if rows else "no demo processes are known (run `wagerstream demo`)")
        if not rows or not all(r["running"] and r["health"] == "healthy" for r in rows):
            raise typer.Exit(1)
        return
    if stop:
        stopped = stop_fleet(s)
        console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        return
    import time

    tenant = tenant or time.strftime("demo-%Y%m%d-%H%M%S", time.gmtime())
    opts = DemoOptions(players, per_pattern, hours, rate, seed, tenant, workers, report_dir)
    result = run_demo(s, opts, console)
    low = [sc.code for sc in result["scores"] if sc.precision < 0.95 or sc.recall < 0.95]
    if low:
        fail(f"precision or recall below 0.95 for {', '.join(low)}: see {result['report']}")


ALL_FAULTS = (
    "worker_kill,relay_kill,kafka_restart,redis_stop,sink_fail,scale_out_in,"
    "kafka_restart_lagging,worker_kill_recovering,relay_kill_snapshot,redis_sink_restart,"
    "worker_stall"
)


def chaos(
    rounds: Annotated[int, typer.Option(help="Rounds; each injects every fault once.")] = 3,
    outage: Annotated[float, typer.Option(help="Seconds Redis is down / the sink fails.")] = 30,
    players: Players = 400,
    per_pattern: PerPattern = 3,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    seed: Seed = 11,
    pause: Annotated[float, typer.Option(help="Seconds of normal operation between faults.")] = 5,
    faults: Annotated[
        str, typer.Option(help="Comma-separated faults to inject, in this order.")
    ] = ALL_FAULTS,
    minutes: Annotated[
        float, typer.Option(help="At least this many minutes of traffic (faults spread over it).")
    ] = 30,
    hours: Annotated[
        float, typer.Option(help="Soak: repeat the rounds for this many hours (memory slope).")
    ] = 0,
    save: Annotated[
        bool, typer.Option(help="Write bench/results/<date>-chaos.json (or -soak.json).")
    ] = True,
) -> None:
    """Faults under load (kills, restarts, rebalances, stalls, outages of Redis, the sink and
    the broker), then reconcile ledger, ClickHouse, wallets and signals: 0 differences."""
    from bench.results import today, write
    from tooling.chaos import FAULTS, ChaosOptions, run_chaos

    chosen = tuple(f.strip() for f in faults.split(",") if f.strip())
    unknown = [f for f in chosen if f not in FAULTS]
    if unknown or not chosen:
        named = ", ".join(unknown) or "(none given)"
        fail(f"unknown fault(s) {named}: choose from {', '.join(FAULTS)}")
    opts = ChaosOptions(
        rounds, outage, players, per_pattern, workers, seed, pause, chosen, minutes, hours
    )
    report = run_chaos(get_settings(), opts, console)
    if save:
        name = "soak" if hours else "chaos"
        summary = {"benchmark": name, "date": today(), "options": vars(opts), **report.summary()}
        write(name, summary)
        console.print(f"results: bench/results/{today()}-{name}.json")
    if report.failure:
        fail(f"the run stopped early: {report.failure}")
    if report.total_differences:
        fail(f"{report.total_differences} difference(s) after the faults: see the table above")


def reconcile_cmd(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
) -> None:
    """Compare every wallet projection in Redis with the ledger; exit 1 listing differences."""
    from tooling.reconcile import reconcile

    s = get_settings()
    checked, differences = reconcile(s.postgres, s.redis, s.redis_prefix, tenant)
    if differences:
        table = Table("tenant", "player", "field", "ledger", "projection")
        for d in differences[:200]:
            table.add_row(d.tenant, d.player, d.field, str(d.ledger), str(d.projection))
        console.print(table)
        fail(
            f"{len(differences)} difference(s) over {checked} players. Fix: check the CDC relay "
            "(`wagerstream cdc`) and the workers are running and caught up, then run again."
        )
    console.print(f"{checked} players checked, 0 differences")
