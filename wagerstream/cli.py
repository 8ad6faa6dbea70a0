"""The `wagerstream` command. Every subcommand has --help; errors name the problem and the fix."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from wagerstream.secrets import SECRET_FIELDS, redact
from wagerstream.settings import PROJECT_ROOT, get_settings

cli = typer.Typer(
    help="wagerstream: real-time risk and analytics for iGaming.", no_args_is_help=True
)
stack_cli = typer.Typer(
    help="Local stack of real services: Kafka (KRaft), PostgreSQL, Redis.", no_args_is_help=True
)
topics_cli = typer.Typer(help="The topic catalogue on the broker.", no_args_is_help=True)
schemas_cli = typer.Typer(help="The Avro contract in schemas/avro/.", no_args_is_help=True)
loadgen_cli = typer.Typer(help="Synthetic traffic.", no_args_is_help=True)
ledger_cli = typer.Typer(help="The PostgreSQL ledger.", no_args_is_help=True)
marts_cli = typer.Typer(help="ClickHouse facts and marts.", no_args_is_help=True)
cli.add_typer(marts_cli, name="marts")
bench_cli = typer.Typer(
    help="Benchmarks on the local stack (JSON to stdout and bench/results/).", no_args_is_help=True
)
cli.add_typer(bench_cli, name="bench")
cli.add_typer(ledger_cli, name="ledger")
cli.add_typer(stack_cli, name="stack")
cli.add_typer(topics_cli, name="topics")
cli.add_typer(schemas_cli, name="schemas")
cli.add_typer(loadgen_cli, name="loadgen")
console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@stack_cli.command("up")
def stack_up() -> None:
    """Install what is missing and start every service; a second run changes nothing."""
    from wagerstream.stack.manager import Stack, StackError

    try:
        started = Stack(get_settings()).up()
    except StackError as exc:
        fail(str(exc))
    for name, did in started.items():
        console.print(f"{name}: {'started' if did else 'already running'}")
    stack_status()


@stack_cli.command("down")
def stack_down() -> None:
    """Stop the services this stack started (and nothing else). Data stays in STACK_DIR."""
    from wagerstream.stack.manager import Stack

    for name, did in Stack(get_settings()).down().items():
        console.print(f"{name}: {'stopped' if did else 'was not running'}")


@stack_cli.command("status")
def stack_status() -> None:
    """Show each service, its pid and its endpoint; exit 1 if any is down."""
    from wagerstream.stack.manager import Stack

    statuses = Stack(get_settings()).status()
    table = Table("service", "state", "pid", "endpoint")
    for s in statuses:
        table.add_row(
            s.name, "[green]running" if s.running else "[red]stopped", str(s.pid or "-"), s.endpoint
        )
    s = get_settings()
    table.add_row(
        "clickhouse",
        "embedded" if s.clickhouse.startswith("chdb://") else "server",
        "-",
        s.clickhouse,
    )
    console.print(table)
    if not all(s.running for s in statuses):
        raise typer.Exit(1)


@topics_cli.command("create")
def topics_create() -> None:
    """Create every catalogue topic that is missing (idempotent)."""
    from topics.admin import TopicError, create_topics

    s = get_settings()
    try:
        report = create_topics(s.kafka, s.topic_partitions, s.topic_replication)
    except TopicError as exc:
        fail(str(exc))
    console.print(f"created {len(report.created)}, already there {len(report.existing)}")
    if report.mismatched:
        fail(
            "partition counts differ (co-partitioning broken; recreate these topics or set "
            "TOPIC_PARTITIONS to match): " + "; ".join(report.mismatched)
        )


@schemas_cli.command("check")
def schemas_check(
    rev: Annotated[str, typer.Option(help="Git revision to compare against.")] = "HEAD",
) -> None:
    """Fail when a schema is not backward compatible with its version at REV."""
    from wagerstream.compat import check_against_git
    from wagerstream.serde import SCHEMA_DIR

    report = check_against_git(SCHEMA_DIR, rev)
    bad = {name: problems for name, problems in report.items() if problems}
    for name, problems in sorted(bad.items()):
        for p in problems:
            err.print(f"[red]{name}[/]: {p}")
    if bad:
        fail(
            f"{len(bad)} schema(s) not backward compatible with {rev}. Fix: give new fields a "
            "default, keep old enum symbols, or add a new topic for a breaking change."
        )
    console.print(f"{len(report)} schema(s) backward compatible with {rev}")


@cli.command("worker")
def worker() -> None:
    """Run a Faust worker with every agent (metrics and health on WORKER_WEB_PORT)."""
    from faust.worker import Worker

    s = get_settings()
    if s.worker_agents == "noop":
        import agents.noop
    elif s.worker_agents == "all":
        import agents.risk  # noqa: F401 - registers the agents, tables and timers
    else:
        fail(f"WORKER_AGENTS={s.worker_agents!r}: use `all` or `noop`")
    from topics.admin import create_changelogs
    from wagerstream.app import app

    changelogs = [t.changelog_topic.get_topic_name() for t in app.tables.values()]
    create_changelogs(s.kafka, changelogs, s.topic_partitions, s.topic_replication)
    faust_worker = Worker(app, loglevel=s.log_level, redirect_stdouts=False)
    # Faust's terminal spinner sets the root logger to DEBUG whenever LOG_LEVEL is WARNING or
    # above, so every library built a debug record per message sent: 4 % of a busy worker's
    # CPU. A worker in a fleet has no terminal to spin on.
    faust_worker.spinner = None
    faust_worker.execute_from_commandline()


@loadgen_cli.command("bets")
def loadgen_bets(
    count: Annotated[int, typer.Option(help="Bets to place.")] = 5000,
    tenant: Annotated[str, typer.Option(help="Tenant id of the traffic.")] = "demo",
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same events.")] = 7,
) -> None:
    """Send placed and settled bets (with duplicates and early settlements) to Kafka."""
    from loadgen.bets import generate
    from loadgen.producer import EventProducer
    from wagerstream.serde import AvroSerde

    s = get_settings()
    traffic = generate(tenant, count, seed=seed)
    producer = EventProducer(s.kafka, AvroSerde(registry_url=s.schema_registry_url))
    for topic, record in traffic.events:
        producer.send(topic, record)
    producer.flush()
    console.print(f"sent {len(traffic.events)} events for {count} bets")


@ledger_cli.command("migrate")
def ledger_migrate() -> None:
    """Apply the ledger's SQL migrations that are missing (ledger/migrations/)."""
    import psycopg

    from ledger.migrate import MigrationError, migrate, set_role_password

    s = get_settings()
    try:
        applied = migrate(s.postgres)
        if set_role_password(s.postgres, s.cdc_postgres):
            console.print("set the CDC role's password from CDC_POSTGRES_DSN")
    except psycopg.OperationalError as exc:
        fail(f"cannot reach PostgreSQL ({exc}). Fix: `wagerstream stack up` or set POSTGRES_DSN.")
    except MigrationError as exc:
        fail(str(exc))
    console.print(f"applied {len(applied)}: {', '.join(applied) or 'nothing to do'}")


@cli.command("cdc")
def cdc() -> None:
    """Run the CDC relay: ledger entries → ledger.cdc (metrics on CDC_METRICS_PORT)."""
    import logging.config
    import threading

    from prometheus_client import start_http_server

    from ledger.cdc import CdcRelay, RelayError, slot_lag_bytes
    from wagerstream.logs import logging_config
    from wagerstream.serde import AvroSerde

    s = get_settings()
    logging.config.dictConfig(logging_config(s.log_level))
    start_http_server(s.cdc_metrics_port)
    relay = CdcRelay(
        s.cdc_postgres, s.kafka, AvroSerde(registry_url=s.schema_registry_url), slot=s.cdc_slot
    )

    def watch_lag() -> None:
        while not relay.stop_event.wait(5):
            try:
                slot_lag_bytes(s.cdc_postgres, s.cdc_slot)
            except Exception as exc:  # a metric must never stop the relay
                logging.getLogger(__name__).warning("slot lag query failed: %s", exc)

    threading.Thread(target=watch_lag, daemon=True).start()
    try:
        relay.run()
    except RelayError as exc:
        fail(f"{exc}. The relay resumes from the last acknowledged transaction when restarted.")
    finally:
        relay.stop_event.set()


@marts_cli.command("migrate")
def marts_migrate() -> None:
    """Apply the missing ClickHouse DDL migrations (embedded engine or server)."""
    from sinks.clickhouse import connect
    from sinks.marts import MartsMigrationError, migrate

    s = get_settings()
    try:
        applied = migrate(
            connect(s), s.clickhouse_database, sink_password=s.clickhouse_sink_password
        )
    except MartsMigrationError as exc:
        fail(str(exc))
    console.print(f"applied {len(applied)}: {', '.join(applied) or 'nothing to do'}")


@marts_cli.command("sink")
def marts_sink() -> None:
    """Run the ClickHouse sink: facts from Kafka, committed after each insert; serves /query,
    /metrics and /health on MARTS_PORT."""
    import logging.config
    import signal

    from agents.marts import MartsSink, serve
    from sinks.clickhouse import connect
    from sinks.marts import MartsMigrationError, migrate
    from wagerstream.logs import logging_config
    from wagerstream.serde import AvroSerde

    s = get_settings()
    logging.config.dictConfig(logging_config(s.log_level))
    try:
        client = connect(s)
        migrate(client, s.clickhouse_database, sink_password=s.clickhouse_sink_password)
    except MartsMigrationError as exc:
        fail(str(exc))
    except Exception as exc:
        fail(f"cannot open ClickHouse at {s.clickhouse}: {exc}. If another process holds the "
             "embedded engine, stop it (only one `marts sink` per data directory).")  # fmt: skip
    sink = MartsSink(s, client, AvroSerde(registry_url=s.schema_registry_url))
    try:
        server = serve(sink, s.worker_web_host, s.marts_port)
    except OSError as exc:
        fail(f"port {s.marts_port} is taken ({exc}): set MARTS_PORT")
    signal.signal(signal.SIGTERM, lambda *_: sink.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: sink.stopping.set())
    console.print(f"marts sink: {s.clickhouse} database {s.clickhouse_database}, "
                  f"http://{s.worker_web_host}:{s.marts_port}/query")  # fmt: skip
    try:
        sink.run()
    finally:
        server.shutdown()


@cli.command("query")
def query(sql: Annotated[str, typer.Argument(help="ClickHouse SQL to run.")]) -> None:
    """Run one query on ClickHouse and print the result as a table: through the running
    `marts sink` when it holds the embedded engine, else directly."""
    from agents.marts import QueryError, run_query

    try:
        columns, rows = run_query(get_settings(), sql)
    except QueryError as exc:
        fail(str(exc))
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)


@cli.command("reconcile")
def reconcile_cmd(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
) -> None:
    """Compare every wallet projection in Redis with the ledger; exit 1 listing differences."""
    from ledger.reconcile import reconcile

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


@bench_cli.command("ledger")
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


@bench_cli.command("freshness")
def bench_freshness(
    runs: Annotated[int, typer.Option(help="Runs; each figure is the median.")] = 3,
    seconds: Annotated[float, typer.Option(help="Seconds of paced posting per run.")] = 20.0,
    rate: Annotated[float, typer.Option(help="Paced transfers/s.")] = 2_000.0,
) -> None:
    """Ledger commit → visible in kpi_daily, p50/p95/p99 at a paced posting rate."""
    import json

    from bench.freshness import run

    print(json.dumps(run(get_settings(), runs, seconds, rate), indent=2))


# Options shared by `demo` and `loadgen run` (the same simulation).
Players = Annotated[int, typer.Option(help="Normal players to simulate.")]
PerPattern = Annotated[int, typer.Option(help="Players per injected risk pattern.")]
Hours = Annotated[float, typer.Option(help="Hours of play to simulate.")]
Seed = Annotated[int, typer.Option(help="Seed: the same seed and start give the same events.")]


@bench_cli.command("throughput")
def bench_throughput(
    runs: Annotated[int, typer.Option(help="Rounds; each figure is the median.")] = 3,
    events: Annotated[
        int, typer.Option(help="Backlog the input topics are topped up to.")
    ] = 2_000_000,
    seconds: Annotated[float, typer.Option(help="Measured seconds per worker.")] = 45.0,
) -> None:
    """Input events/s on a backlog: a worker with all agents, a no-op Faust agent, and two
    workers sharing the backlog; RSS and state bytes per player."""
    import json

    from bench.throughput import run

    print(json.dumps(run(get_settings(), runs, events, seconds), indent=2))


@bench_cli.command("rules")
def bench_rules(
    runs: Annotated[int, typer.Option(help="Runs; the figure is the median.")] = 3,
    events: Annotated[int, typer.Option(help="Simulated events per run.")] = 30_000,
) -> None:
    """Decode, contract and every rule per event, without Faust or I/O (µs/event)."""
    import json

    from bench.rules import run

    print(json.dumps(run(runs, events), indent=2))


@bench_cli.command("latency")
def bench_latency(
    runs: Annotated[int, typer.Option(help="Runs; each figure is the median.")] = 3,
    seconds: Annotated[float, typer.Option(help="Measured seconds per run.")] = 60.0,
    rate: Annotated[
        float | None,
        typer.Option(help="Events/s; default half the last throughput benchmark's full worker."),
    ] = None,
) -> None:
    """Produce → visible in the Redis read model, p50/p95/p99, at a fixed rate."""
    import json

    from bench.latency import run

    print(json.dumps(run(get_settings(), runs, seconds, rate), indent=2))


@cli.command("demo")
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
) -> None:
    """Stack up, relay, workers, sink; a simulated operator with a kick-off burst and labelled
    risk patterns; then KPIs, signals scored against the labels, and report/index.html."""
    from wagerstream.demo import DemoOptions, run_demo, stop_fleet

    s = get_settings()
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


@cli.command("chaos")
def chaos(
    rounds: Annotated[int, typer.Option(help="Rounds; each injects every fault once.")] = 2,
    outage: Annotated[float, typer.Option(help="Seconds Redis is down / the sink fails.")] = 30,
    players: Players = 400,
    per_pattern: PerPattern = 3,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    seed: Seed = 11,
    pause: Annotated[float, typer.Option(help="Seconds of normal operation between faults.")] = 5,
    faults: Annotated[
        str, typer.Option(help="Comma-separated faults to inject, in this order.")
    ] = "worker_kill,relay_kill,kafka_restart,redis_stop,sink_fail",
) -> None:
    """Faults under load (kill -9 a worker and the relay, restart Kafka, stop Redis, fail the
    ClickHouse sink), then reconcile ledger, ClickHouse, wallets and signals: 0 differences."""
    from wagerstream.chaos import FAULTS, ChaosOptions, run_chaos

    chosen = tuple(f.strip() for f in faults.split(",") if f.strip())
    unknown = [f for f in chosen if f not in FAULTS]
    if unknown or not chosen:
        named = ", ".join(unknown) or "(none given)"
        fail(f"unknown fault(s) {named}: choose from {', '.join(FAULTS)}")
    opts = ChaosOptions(rounds, outage, players, per_pattern, workers, seed, pause, chosen)
    report = run_chaos(get_settings(), opts, console)
    if report.total_differences:
        fail(f"{report.total_differences} difference(s) after the faults: see the table above")


@loadgen_cli.command("run")
def loadgen_run(
    players: Players = 2000,
    per_pattern: PerPattern = 10,
    hours: Hours = 4.0,
    rate: Annotated[
        float | None, typer.Option(help="Average actions/s; none: as fast as possible.")
    ] = None,
    seed: Seed = 7,
    tenant: Annotated[str, typer.Option(help="Tenant id.")] = "demo",
    start_ms: Annotated[
        int | None, typer.Option(help="Simulated start (epoch ms); default now - hours.")
    ] = None,
    labels: Annotated[Path, typer.Option(help="Where the ground-truth labels go (JSON).")] = Path(
        "labels.json"
    ),
) -> None:
    """A simulated operator through the ledger and Kafka: players, sessions, bets with a
    kick-off burst, payments, limits and labelled risk patterns."""
    import json
    import time

    from ledger.migrate import migrate
    from loadgen.operator import HOUR_MS, simulate
    from loadgen.producer import EventProducer
    from loadgen.runner import play
    from wagerstream.serde import AvroSerde

    s = get_settings()
    start = start_ms if start_ms is not None else int(time.time() * 1000) - int(hours * HOUR_MS)
    traffic = simulate(tenant, players, seed, start, hours, per_pattern)
    labels.write_text(json.dumps(traffic.labels, indent=1))
    migrate(s.postgres)
    speedup = rate * hours * 3600 / max(1, len(traffic.actions)) if rate else None
    producer = EventProducer(s.kafka, AvroSerde(registry_url=s.schema_registry_url))
    stats = play(traffic, s.postgres, producer, speedup, start)
    console.print(f"{traffic.counts()}; sent in {stats.seconds:.1f} s ({stats.rate:.0f}/s); "
                  f"labels in {labels}; ledger refused {len(stats.refused)}")  # fmt: skip
    if stats.refused:
        fail(f"the ledger refused {len(stats.refused)} postings, e.g. {stats.refused[0]}")


@cli.command("config")
def config() -> None:
    """Print the effective configuration (environment variables and defaults)."""
    s = get_settings()
    table = Table("variable", "value", "meaning")
    for name, field in type(s).model_fields.items():
        value = getattr(s, name)
        if name in SECRET_FIELDS and value is not None:
            value = redact(str(value)) if "://" in str(value) else "***"
        table.add_row(name.upper(), str(value), field.description or "")
    console.print(table)
    console.print(f"project root: {PROJECT_ROOT}")


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
