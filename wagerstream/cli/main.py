"""The `wagerstream` command: a leaf nothing imports, one module per command group.

Every subcommand has --help; errors name the problem and the fix.
"""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from foundation.secrets import SECRET_FIELDS, redact
from foundation.settings import PROJECT_ROOT, get_settings
from wagerstream.cli import bench, demo, ledger, loadgen, marts, stack, topics, worker
from wagerstream.cli.common import console

cli = typer.Typer(
    help="wagerstream: real-time risk and analytics for iGaming.", no_args_is_help=True
)
cli.add_typer(stack.app, name="stack")
cli.add_typer(topics.app, name="topics")
cli.add_typer(topics.schemas, name="schemas")
cli.add_typer(ledger.app, name="ledger")
cli.add_typer(marts.app, name="marts")
cli.add_typer(loadgen.app, name="loadgen")
cli.add_typer(bench.app, name="bench")
cli.command("worker")(worker.worker)
cli.command("cdc")(ledger.cdc)
cli.command("query")(marts.query)
cli.command("reconcile")(demo.reconcile_cmd)
cli.command("demo")(demo.demo)
cli.command("chaos")(demo.chaos)


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
