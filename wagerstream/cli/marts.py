"""`wagerstream marts` and `wagerstream query`: ClickHouse facts and marts."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.table import Table

from foundation.settings import get_settings
from wagerstream.cli.common import console, fail

app = typer.Typer(help="ClickHouse facts and marts.", no_args_is_help=True)


@app.command("migrate")
def marts_migrate() -> None:
    """Apply the missing ClickHouse DDL migrations (embedded engine or server)."""
    from sinks.clickhouse.connect import connect
    from sinks.clickhouse.migrate import MartsMigrationError, migrate_with

    s = get_settings()
    try:
        applied = migrate_with(connect(s), s)
    except MartsMigrationError as exc:
        fail(str(exc))
    console.print(f"applied {len(applied)}: {', '.join(applied) or 'nothing to do'}",
                  soft_wrap=True)  # fmt: skip


@app.command("sink")
def marts_sink() -> None:
    """Run the ClickHouse sink: facts from Kafka, committed after each insert; serves /query,
    /metrics and /health on WAGERSTREAM_MARTS_PORT."""
    import logging.config
    import signal

    from foundation.logs import logging_config
    from foundation.secrets import redact
    from sinks.clickhouse.connect import connect
    from sinks.clickhouse.migrate import MartsMigrationError, migrate_with
    from sinks.clickhouse.sink import MartsSink, serve
    from topics.serde import AvroSerde

    s = get_settings()
    logging.config.dictConfig(logging_config(s.log_level))
    try:
        client = connect(s)
        migrate_with(client, s)
    except MartsMigrationError as exc:
        fail(str(exc))
    except Exception as exc:
        fail(f"cannot open ClickHouse at {s.clickhouse}: {exc}. If another process holds the "
             "embedded engine, stop it (only one `marts sink` per data directory).")  # fmt: skip
    sink = MartsSink(s, client, AvroSerde(registry_url=s.schema_registry_url))
    try:
        server = serve(sink, s.worker_web_host, s.marts_port)
    except OSError as exc:
        fail(f"port {s.marts_port} is taken ({exc}): set WAGERSTREAM_MARTS_PORT")
    signal.signal(signal.SIGTERM, lambda *_: sink.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: sink.stopping.set())
    logging.getLogger("sinks.clickhouse").info(
        "marts sink on %s database %s, http://%s:%s/query", redact(s.clickhouse),
        s.clickhouse_database, s.worker_web_host, s.marts_port)  # fmt: skip
    try:
        sink.run()
    finally:
        server.shutdown()


class Format(StrEnum):
    table = "table"
    csv = "csv"
    tsv = "tsv"
    json = "json"


def _plain(value: Any) -> Any:
    """A value as CSV, TSV and JSON carry it: dates in ISO 8601, numbers as they are."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def query(
    sql: Annotated[str, typer.Argument(help="ClickHouse SQL to run.")],
    output: Annotated[
        Format, typer.Option("--format", "-f", help="table (default), csv, tsv or json.")
    ] = Format.table,
) -> None:
    """Run one query on ClickHouse and print the result: through the running `marts sink` when
    it holds the embedded engine, else directly. csv and tsv have a header row; json is one
    array of objects. A SQL error is reported as ClickHouse words it, exit 1."""
    from sinks.clickhouse.sink import QueryError, run_query

    try:
        columns, rows = run_query(get_settings(), sql)
    except QueryError as exc:
        fail(str(exc))
    if output is Format.table:
        table = Table(*columns)
        for row in rows:
            table.add_row(*(str(v) for v in row))
        console.print(table)
    elif output is Format.json:
        records = [dict(zip(columns, (_plain(v) for v in row), strict=True)) for row in rows]
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
    else:
        writer = csv.writer(sys.stdout, delimiter="," if output is Format.csv else "\t",
                            lineterminator="\n")  # fmt: skip
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_plain(v) for v in row])


@app.command("tenant-analyst")
def marts_tenant_analyst(
    tenant: Annotated[str, typer.Argument(help="The tenant whose rows the analyst may read.")],
    user: Annotated[str, typer.Option(help="Login to create (default: <tenant>_analyst).")] = "",
    password_file: Annotated[
        typer.FileText, typer.Option(help="File holding the login's password (- for stdin).")
    ] = None,  # type: ignore[assignment]
) -> None:
    """Create a tenant's analyst login on a ClickHouse server: SELECT on the marts, rows of
    TENANT only (a restrictive row policy); on the embedded engine the statements are parsed."""
    from sinks.clickhouse.access import AccessError, apply, role_name, tenant_statements
    from sinks.clickhouse.connect import connect

    s = get_settings()
    login = user or f"{tenant}_analyst"
    if password_file is None:
        fail("no password: give the login's password with --password-file PATH (or - for stdin)")
    try:
        statements = tenant_statements(
            s.clickhouse_database, tenant, login, password_file.read().strip()
        )
    except AccessError as exc:
        fail(str(exc))
    ran = apply(connect(s), statements)
    where = "created" if ran else "parsed only (the embedded engine has no access storage)"
    console.print(f"{login}: role {role_name(tenant)}, rows of tenant {tenant}: {where}")
