"""Per-tenant analysts on a ClickHouse server: a B2B operator's white-label tenant reads only
its own rows.

A tenant's role gets SELECT on the marts database and a restrictive row policy
(`tenant_id = '<tenant>'`) on every fact table; migration 0009's permissive all-rows policy
keeps everyone else as before, and ClickHouse ANDs the two for the tenant's users. Views read
their tables as the querying user, so every mart is filtered too. The statements are plain
data (`tenant_statements`) so they are unit-tested; `apply` runs them on a server and parses
them on the embedded engine, which has no access storage.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sinks.clickhouse.migrate import has_access_storage

# the fact tables that carry tenant_id; every mart is a view over them
TENANT_TABLES = ("ledger_entries", "bets", "payments", "signals", "bonus_progress")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")


class AccessError(ValueError):
    """A tenant or user name that cannot become a ClickHouse role; the message says why."""


def role_name(tenant: str) -> str:
    return f"wagerstream_tenant_{tenant}"


def tenant_statements(database: str, tenant: str, user: str, password: str) -> list[str]:
    """Role, grants, row policy and login of one tenant's analysts (only the password's
    SHA-256 reaches the server)."""
    for what, name in (("tenant", tenant), ("user", user)):
        if not NAME.fullmatch(name):
            raise AccessError(
                f"{what} {name!r} cannot name a ClickHouse role: use letters, digits, '_' and "
                "'-' (at most 63, starting with a letter or digit)"
            )
    if not password:
        raise AccessError("the tenant analyst's password is empty: give one with --password-file")
    role = f"`{role_name(tenant)}`"
    tables = ", ".join(f"{database}.{t}" for t in TENANT_TABLES)
    digest = hashlib.sha256(password.encode()).hexdigest()
    return [
        f"CREATE ROLE IF NOT EXISTS {role}",
        f"GRANT SELECT ON {database}.* TO {role}",
        f"CREATE ROW POLICY IF NOT EXISTS `{role_name(tenant)}_rows` ON {tables} AS RESTRICTIVE "
        f"FOR SELECT USING tenant_id = '{tenant}' TO {role}",
        f"CREATE USER IF NOT EXISTS `{user}` IDENTIFIED WITH sha256_hash BY '{digest}' "
        f"DEFAULT ROLE {role}",
        f"GRANT {role} TO `{user}`",
    ]


def apply(client: Any, statements: list[str]) -> bool:
    """Run the statements on a server (True), or parse them on the embedded engine (False)."""
    run = has_access_storage(client)
    for statement in statements:
        client.command(statement if run else f"EXPLAIN AST {statement}")
    return run
