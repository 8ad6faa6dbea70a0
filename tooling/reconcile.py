"""Compare every wallet projection in Redis with the ledger's balances.

The ledger is the truth; a difference means a projection is missing, stale or wrong. Read the
ledger first and Redis second: with traffic running, a projection can only be *behind* the
ledger it was compared with, so run it on a quiet system (or accept in-flight lag) to prove
equality.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import redis

from sinks.read_models import model_key


@dataclass(frozen=True)
class Difference:
    tenant: str
    player: str
    field: str
    ledger: int | None
    projection: int | None


def reconcile(
    dsn: str, redis_url: str, prefix: str, tenant: str | None = None
) -> tuple[int, list[Difference]]:
    """(players checked, differences)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tenant_id, player_id,"
            " sum(balance_minor) FILTER (WHERE account_kind = 'cash'),"
            " sum(balance_minor) FILTER (WHERE account_kind = 'bonus'),"
            " bool_or(EXISTS (SELECT 1 FROM ledger.entries e WHERE e.account_id = a.account_id))"
            " FROM ledger.accounts a WHERE player_id IS NOT NULL"
            " AND (%s::text IS NULL OR tenant_id = %s) GROUP BY tenant_id, player_id",
            (tenant, tenant),
        ).fetchall()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    pipe = client.pipeline(transaction=False)
    for t, p, *_ in rows:
        pipe.hmget(model_key(prefix, t, "wallet", p), "cash_minor", "bonus_minor")
    projected = pipe.execute()
    differences: list[Difference] = []
    for (t, p, cash, bonus, has_entries), (pcash, pbonus) in zip(rows, projected, strict=True):
        if not has_entries and pcash is None and pbonus is None:
            continue  # an account never used has no projection, and needs none
        for name, want, got in (("cash_minor", cash, pcash), ("bonus_minor", bonus, pbonus)):
            got_int = None if got is None else int(got)
            if (got_int or 0) != want:  # a field never written is a zero balance
                differences.append(Difference(t, p, name, want, got_int))
    return len(rows), differences
