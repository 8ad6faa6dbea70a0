"""`wagerstream stack`: the local stack of real services."""

from __future__ import annotations

import typer
from rich.table import Table

from foundation.settings import get_settings
from wagerstream.cli.common import console, fail

app = typer.Typer(
    help="Local stack of real services: Kafka (KRaft), PostgreSQL, Redis.", no_args_is_help=True
)


@app.command("up")
def stack_up() -> None:
    """Install what is missing and start every service; a second run changes nothing."""
    from tooling.stack.manager import Stack, StackError

    try:
        started = Stack(get_settings()).up()
    except StackError as exc:
        fail(str(exc))
    for name, did in started.items():
        console.print(f"{name}: {'started' if did else 'already running'}")
    stack_status()


@app.command("down")
def stack_down() -> None:
    """Stop the services this stack started (and nothing else). Data stays in
    WAGERSTREAM_STACK_DIR."""
    from tooling.stack.manager import Stack

    for name, did in Stack(get_settings()).down().items():
        console.print(f"{name}: {'stopped' if did else 'was not running'}")


@app.command("status")
def stack_status() -> None:
    """Show each service, its pid and its endpoint; exit 1 if any is down."""
    from tooling.stack.manager import Stack

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
