"""`wagerstream marts` and `wagerstream query`: ClickHouse facts and marts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from foundation.settings import get_settings
from wagerstream.cli.common import console, fail

app = typer.Typer(help="ClickHouse facts and marts.", no_args_is_help=True)


@app.command("migrate")
def marts_migrate() -> None:
    """Apply the missing ClickHouse DDL migrations (embedded engine or server)."""
    from sinks.clickhouse.connect import connect
    from sinks.clickhouse.migrate import MartsMigrationError, migrate

    s = get_settings()
    try:
        applied = migrate(
            connect(s),
            s.clickhouse_database,
            sink_password=s.clickhouse_sink_password,
            analyst_password=s.clickhouse_analyst_password,
        )
    except MartsMigrationError as exc:
        fail(str(exc))
    console.print(f"applied {len(applied)}: {', '.join(applied) or 'nothing to do'}")


@app.command("sink")
def marts_sink() -> None:
    """Run the ClickHouse sink: facts from Kafka, committed after each insert; serves /query,
    /metrics and /health on WAGERSTREAM_MARTS_PORT."""
    import logging.config
    import signal

    from foundation.logs import logging_config
    from foundation.secrets import redact
    from sinks.clickhouse.connect import connect
    from sinks.clickhouse.migrate import MartsMigrationError, migrate
    from sinks.clickhouse.sink import MartsSink, serve
    from topics.serde import AvroSerde

    s = get_settings()
    logging.config.dictConfig(logging_config(s.log_level))
    try:
        client = connect(s)
        migrate(
            client,
            s.clickhouse_database,
            sink_password=s.clickhouse_sink_password,
            analyst_password=s.clickhouse_analyst_password,
        )
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


def query(sql: Annotated[str, typer.Argument(help="ClickHouse SQL to run.")]) -> None:
    """Run one query on ClickHouse and print the result as a table: through the running
    `marts sink` when it holds the embedded engine, else directly."""
    from sinks.clickhouse.sink import QueryError, run_query

    try:
        columns, rows = run_query(get_settings(), sql)
    except QueryError as exc:
        fail(str(exc))
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)
