"""The `wagerstream` command: a leaf nothing imports, one module per command group.

Every subcommand has --help; errors name the problem and the fix.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer
from rich.table import Table

from agents.rules.config import DEFAULT_FILE as RISK_CONFIG_DEFAULT
from foundation.secrets import SECRET_FIELDS, redact
from foundation.settings import PROJECT_ROOT, env_name, get_settings, legacy_values
from wagerstream.cli import (
    bench,
    demo,
    deploy,
    dlq,
    ledger,
    loadgen,
    marts,
    stack,
    topics,
    worker,
)
from wagerstream.cli.common import console

cli = typer.Typer(
    help="wagerstream: real-time risk and analytics for iGaming.", no_args_is_help=True
)


def _print_version(asked: bool) -> None:
    if asked:
        try:
            ours = version("wagerstream")
        except PackageNotFoundError:  # a checkout run without `pip install -e .`
            ours = "unknown (not installed)"
        console.print(f"wagerstream {ours} (faust-streaming {version('faust-streaming')})")
        raise typer.Exit()


@cli.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:  # fmt: skip
    """wagerstream: real-time risk and analytics for iGaming."""


cli.add_typer(stack.app, name="stack")
cli.add_typer(topics.app, name="topics")
cli.add_typer(topics.schemas, name="schemas")
cli.add_typer(ledger.app, name="ledger")
cli.add_typer(marts.app, name="marts")
cli.add_typer(loadgen.app, name="loadgen")
cli.add_typer(bench.app, name="bench")
cli.add_typer(dlq.app, name="dlq")
cli.add_typer(deploy.app, name="deploy")
cli.command("worker")(worker.worker)
cli.command("cdc")(ledger.cdc)
cli.command("query")(marts.query)
cli.command("reconcile")(demo.reconcile_cmd)
cli.command("demo")(demo.demo)
cli.command("chaos")(demo.chaos)


@cli.command("config")
def config() -> None:
    """Print the effective configuration: each variable, its value (derived ones filled in),
    where it came from, and what it means."""
    s = get_settings()
    derived = {
        "kafka_bootstrap_servers": s.kafka,
        "postgres_dsn": s.postgres,
        "cdc_postgres_dsn": s.cdc_postgres,
        "redis_url": s.redis,
        "clickhouse_url": s.clickhouse,
        "state_dir": s.state_path,
        "risk_config": RISK_CONFIG_DEFAULT,
    }
    legacy = legacy_values(type(s).model_fields, os.environ)
    table = Table("variable", "value", "from", "meaning")
    for name, field in type(s).model_fields.items():
        value = getattr(s, name)
        source = "default"
        if env_name(name) in os.environ or f"{env_name(name)}_FILE" in os.environ:
            source = "environment"
        elif name in legacy:
            source = f"{name.upper()} (old name)"
        if value is None and name in derived:
            value, source = derived[name], "derived"
        if name in SECRET_FIELDS and value is not None:
            value = redact(str(value)) if "://" in str(value) else "***"
        shown = "unset" if value is None else str(value)
        table.add_row(env_name(name), shown, source, field.description or "")
    console.print(table)
    console.print(f"project root: {PROJECT_ROOT}")


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
