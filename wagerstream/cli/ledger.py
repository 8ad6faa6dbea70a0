"""`wagerstream ledger` and `wagerstream cdc`: the PostgreSQL ledger and its relay."""

from __future__ import annotations

import typer

from foundation.settings import get_settings
from wagerstream.cli.common import console, fail

app = typer.Typer(help="The PostgreSQL ledger.", no_args_is_help=True)


@app.command("migrate")
def ledger_migrate() -> None:
    """Apply the ledger's SQL migrations that are missing (ledger/migrations/)."""
    import psycopg

    from ledger.migrate import MigrationError, migrate, set_role_password

    s = get_settings()
    try:
        applied = migrate(s.postgres)
        if set_role_password(s.postgres, s.cdc_postgres):
            console.print("set the CDC role's password from WAGERSTREAM_CDC_POSTGRES_DSN")
    except psycopg.OperationalError as exc:
        fail(
            f"cannot reach PostgreSQL ({exc}). Fix: `wagerstream stack up` or set "
            f"WAGERSTREAM_POSTGRES_DSN."
        )
    except MigrationError as exc:
        fail(str(exc))
    console.print(f"applied {len(applied)}: {', '.join(applied) or 'nothing to do'}")


def cdc() -> None:
    """Run the CDC relay: ledger entries → ledger.cdc (/metrics and /health on
    WAGERSTREAM_CDC_METRICS_PORT)."""
    import logging
    import logging.config

    from foundation import http, tracing
    from foundation.background import every
    from foundation.logs import logging_config
    from ledger.cdc import CdcRelay, RelayError, slot_lag_bytes
    from topics.serde import AvroSerde

    s = get_settings()
    logging.config.dictConfig(logging_config(s.log_level))
    tracing.setup("wagerstream-cdc")  # on only with OTEL_EXPORTER_OTLP_ENDPOINT
    relay = CdcRelay(
        s.cdc_postgres, s.kafka, AvroSerde(registry_url=s.schema_registry_url), slot=s.cdc_slot
    )
    try:
        http.serve("", s.cdc_metrics_port, relay.health, name="cdc-http")
    except OSError as exc:
        fail(f"port {s.cdc_metrics_port} is taken ({exc}): set WAGERSTREAM_CDC_METRICS_PORT")
    log = logging.getLogger("ledger.cdc")
    every("cdc_slot_lag", 5, lambda: slot_lag_bytes(s.cdc_postgres, s.cdc_slot), relay.stop_event,
          log)  # fmt: skip
    try:
        relay.run()
    except RelayError as exc:
        fail(f"{exc}. The relay resumes from the last acknowledged transaction when restarted.")
    finally:
        relay.stop_event.set()
