"""ClickHouse DDL migrations (`sinks/clickhouse/migrations/NNNN_*.sql`), idempotent and versioned.

Each file is split on `;` and its statements run in order; `{db}` is the configured
database. Applied versions are recorded with a checksum in `{db}.schema_migrations`; editing
an applied file is an error. The same files run on the embedded engine and on a server.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from foundation.settings import Settings
from sinks.clickhouse import columns

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class MartsMigrationError(RuntimeError):
    pass


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


ACCESS_MARKER = "-- access-control"


def set_reporting_currency(client: Any, database: str, currency: str) -> None:
    """The one row kpi_daily_reporting converts into (migration 0007), written only when the
    setting changed, so every sink start does not add a row."""
    current = client.query(
        f"SELECT argMax(currency, updated_at) FROM {database}.reporting_currency"
    ).result_rows
    if not current or current[0][0] != currency:
        client.insert(f"{database}.reporting_currency", [[currency]], column_names=["currency"])


def has_access_storage(client: Any) -> bool:
    """False on the embedded engine, whose users come from XML only: CREATE ROLE cannot run."""
    rows = client.query(
        "SELECT count() FROM system.user_directories WHERE type != 'users_xml'"
    ).result_rows
    return bool(rows[0][0])


def migrate(
    client: Any,
    database: str,
    directory: Path = MIGRATIONS,
    sink_password: str | None = None,
    analyst_password: str | None = None,
    reporting_currency: str = "EUR",
) -> list[str]:
    """Apply the missing migrations. An access-control migration names the passwords it needs
    as `{<user>_password_sha256}`; on a server each must be given (only its SHA-256 is sent)."""
    passwords = {"sink": sink_password, "analyst": analyst_password}
    files = sorted(directory.glob("*.sql"))
    if not files:  # an incomplete install would otherwise leave a sink without tables
        raise MartsMigrationError(f"no marts migrations in {directory}: reinstall wagerstream")
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations (version UInt32, name String,"
        " checksum String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version"
    )
    done = dict(
        client.query(f"SELECT version, checksum FROM {database}.schema_migrations").result_rows
    )
    applied: list[str] = []
    for path in files:
        number, _, name = path.stem.partition("_")
        version, sql = int(number), path.read_text()
        checksum = hashlib.sha256(sql.encode()).hexdigest()
        if version in done:
            if done[version] != checksum:
                raise MartsMigrationError(
                    f"marts migration {path.name} changed after it was applied; add a new one"
                )
            continue
        access = sql.startswith(ACCESS_MARKER)
        run = not access or has_access_storage(client)
        text = sql.replace("{db}", database)
        for user in sorted(set(re.findall(r"\{(\w+)_password_sha256\}", sql))):
            password = passwords.get(user)
            if run and not password:
                var = f"WAGERSTREAM_CLICKHOUSE_{user.upper()}_PASSWORD"
                raise MartsMigrationError(
                    f"{path.name} creates the {user}'s user: set {var} (or {var}_FILE) and run "
                    "`wagerstream marts migrate` again"
                )
            digest = hashlib.sha256((password or "").encode()).hexdigest()
            text = text.replace(f"{{{user}_password_sha256}}", digest)
        for statement in _statements(text):
            # without access storage the statements are still parsed, so a typo fails here
            client.command(statement if run else f"EXPLAIN AST {statement}")
        client.insert(f"{database}.schema_migrations", [[version, name, checksum]],
                      column_names=["version", "name", "checksum"])  # fmt: skip
        applied.append(path.stem if run else f"{path.stem} (parsed only: no access storage)")
    set_reporting_currency(client, database, reporting_currency)
    try:
        columns.apply(client, database)  # every column's meaning, as COMMENTs
    except columns.UndocumentedColumn as exc:
        raise MartsMigrationError(str(exc)) from None
    return applied


def migrate_with(client: Any, settings: Settings) -> list[str]:
    """`migrate` with everything the settings give it: `marts migrate` and every sink start."""
    return migrate(
        client,
        settings.clickhouse_database,
        sink_password=settings.clickhouse_sink_password,
        analyst_password=settings.clickhouse_analyst_password,
        reporting_currency=settings.reporting_currency,
    )
