"""Versioned SQL migrations: `ledger/migrations/NNNN_name.sql`, applied once each, in order.

Each file runs in its own transaction together with its row in `ledger.schema_migrations`, so
a failed migration leaves nothing behind. A file that changed after it was applied is an error
(checksums), because the database would no longer match the code that describes it. An
advisory lock lets several processes call `migrate` at start-up safely.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LOCK_ID = 0x57_4C_45_44  # "WLED"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        number, _, name = path.stem.partition("_")
        found.append(Migration(int(number), name, path.read_text()))
    if not found:  # an incomplete install would otherwise leave no ledger
        raise MigrationError(f"no ledger migrations in {directory}: reinstall wagerstream")
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number in {directory}")
    return found


def migrate(dsn: str, directory: Path = MIGRATIONS) -> list[str]:
    """Apply what is missing; returns the names applied."""
    applied_now: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
        try:
            conn.execute("CREATE SCHEMA IF NOT EXISTS ledger")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS ledger.schema_migrations ("
                " version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = dict(conn.execute("SELECT version, checksum FROM ledger.schema_migrations"))
            for m in discover(directory):
                if m.version in done:
                    if done[m.version] != m.checksum:
                        raise MigrationError(
                            f"migration {m.version:04d}_{m.name} changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                with conn.transaction():
                    conn.execute(m.sql)
                    conn.execute(
                        "INSERT INTO ledger.schema_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
                applied_now.append(f"{m.version:04d}_{m.name}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
    return applied_now


def set_role_password(dsn: str, role_dsn: str) -> bool:
    """Give the role of `role_dsn` the password in it, if it has one (True when set).

    One source of truth for the CDC relay's credentials: its DSN (`WAGERSTREAM_CDC_POSTGRES_DSN`,
    which can
    come from a file). The password travels as a literal, never through a log line.
    """
    params = psycopg.conninfo.conninfo_to_dict(role_dsn)
    password, role = params.get("password"), params.get("user")
    if not password or not role:
        return False
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
        )
    return True
