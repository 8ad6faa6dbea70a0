"""`wagerstream bench`: benchmarks on the local stack."""

from __future__ import annotations

from typing import Annotated

import typer

from foundation.settings import get_settings

app = typer.Typer(
    help="Benchmarks on the local stack (JSON to stdout and bench/results/).", no_args_is_help=True
)


@app.command("ledger")
def bench_ledger(
    runs: Annotated[int, typer.Option(help="Runs; each figure is the median.")] = 3,
    seconds: Annotated[float, typer.Option(help="Seconds per load level.")] = 8.0,
    backlog: Annotated[int, typer.Option(help="Transfers in the CDC catch-up backlog.")] = 20_000,
    rate: Annotated[float, typer.Option(help="Paced transfers/s for commit → ack.")] = 2_000.0,
) -> None:
    """Posting throughput and latency (1/4/16 clients), CDC catch-up and commit → ack."""
    import json

    from bench.ledger import run

    print(json.dumps(run(get_settings(), runs, seconds, backlog, rate), indent=2))


@app.command("freshness")
def bench_freshness(
    runs: Annotated[int, typer.Option(help="Runs; each figure is the median.")] = 3,
    seconds: Annotated[float, typer.Option(help="Seconds of paced posting per run.")] = 20.0,
    rate: Annotated[float, typer.Option(help="Paced transfers/s.")] = 2_000.0,
) -> None:
    """Ledger commit → visible in kpi_daily, p50/p95/p99 at a paced posting rate."""
    import json

    from bench.freshness import run

    print(json.dumps(run(get_settings(), runs, seconds, rate), indent=2))


@app.command("throughput")
def bench_throughput(
    runs: Annotated[int, typer.Option(help="Rounds; each figure is the median.")] = 3,
    events: Annotated[
        int, typer.Option(help="Events in the fixed backlog each worker drains.")
    ] = 150_000,
    processes: Annotated[
        str, typer.Option(help="Comma-separated worker counts to drain it with (scaling).")
    ] = "1,2",
    variant: Annotated[
        list[str] | None,
        typer.Option(help="NAME:SETTING=VALUE[,SETTING=VALUE]: a worker with other settings."),
    ] = None,
) -> None:
    """Drain of one fixed, mixed backlog: a worker with all agents, a no-op Faust agent, more
    worker processes and setting variants, alternating; RSS and state bytes per player."""
    import json

    from bench.throughput import run

    counts = tuple(int(n) for n in processes.split(",") if n)
    result = run(get_settings(), runs, events, counts, tuple(variant or ()))
    print(json.dumps(result, indent=2))


@app.command("peak")
def bench_peak(
    workers: Annotated[int, typer.Option(help="Worker processes in the fleet.")] = 2,
    start_rate: Annotated[float, typer.Option(help="First rate of the search (events/s).")] = 500.0,
    step_s: Annotated[float, typer.Option(help="Seconds per step of the search.")] = 45.0,
    burst_s: Annotated[float, typer.Option(help="Seconds of the pre-race burst.")] = 300.0,
    latency_s: Annotated[float, typer.Option(help="Seconds of latency probes.")] = 60.0,
) -> None:
    """A Grand-National-shaped day for a fleet: the highest sustained rate with flat lag, the
    lag a 10x pre-race burst leaves and its drain time, produce → Redis at half the rate."""
    import json

    from bench.peak import run

    print(
        json.dumps(run(get_settings(), workers, start_rate, step_s, burst_s, latency_s), indent=2)
    )


@app.command("rules")
def bench_rules(
    runs: Annotated[int, typer.Option(help="Runs; the figure is the median.")] = 3,
    events: Annotated[int, typer.Option(help="Simulated events per run.")] = 30_000,
    heavy_bets: Annotated[
        int, typer.Option(help="Bets of the one heavy casino player, inside one 24 h window.")
    ] = 2_000,
) -> None:
    """Decode, contract and every rule per event, without Faust or I/O (µs/event)."""
    import json

    from bench.rules import run

    print(json.dumps(run(runs, events, heavy_bets), indent=2))


@app.command("latency")
def bench_latency(
    runs: Annotated[int, typer.Option(help="Runs; each figure is the median.")] = 3,
    seconds: Annotated[float, typer.Option(help="Measured seconds per run.")] = 60.0,
    rate: Annotated[
        float | None,
        typer.Option(help="Events/s; default half the last throughput benchmark's full worker."),
    ] = None,
    variant: Annotated[
        list[str] | None,
        typer.Option(help="NAME:SETTING=VALUE[,SETTING=VALUE]: a worker with other settings."),
    ] = None,
) -> None:
    """Produce → visible in the Redis read model, p50/p95/p99, at a fixed rate."""
    import json

    from bench.latency import run

    print(json.dumps(run(get_settings(), runs, seconds, rate, tuple(variant or ())), indent=2))
