"""Wallet projection: `ledger.cdc` → `{prefix}:{tenant}:wallet:{player}` in Redis.

Stateless on purpose: each player-leg entry carries the account's balance after it, so the
projection is "the balance of the newest entry", and the versioned Lua write makes that
idempotent and order-proof. The version is (commit LSN, entry_id) as one decimal: commits
are ordered, the entries of one transaction share its commit LSN and the snapshot (op r)
gives all history one LSN, so entry_id, which grows per account in commit order (account rows
are locked), breaks the tie. The commit LSN, not the entry's own WAL position: a transaction
open while the relay took its first snapshot wrote its entries before the snapshot's point
and committed after it, and by its own LSN would have looked older than the history. Replays and
out-of-order duplicates never move a balance back. House legs have no projection. The
player agent (`agents/players.py`) calls this for every `ledger.cdc` record it decodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sinks.read_models import DEFAULT_PREFIX, VersionedWrite, model_key
from topics.cdc import read_change

if TYPE_CHECKING:
    from topics.serde import LoadedSchema

BALANCE_FIELD = {"cash": "cash_minor", "bonus": "bonus_minor"}


def wallet_version(lsn: int, entry_id: int) -> int:
    return lsn * 10**20 + entry_id


def wallet_writes(
    schema: LoadedSchema, record: dict[str, Any], prefix: str = DEFAULT_PREFIX
) -> list[VersionedWrite]:
    change = read_change(record)
    entry = change.after
    if entry is None or entry["account_kind"] not in BALANCE_FIELD or entry["player_id"] is None:
        return []
    return [
        VersionedWrite(
            key=model_key(prefix, entry["tenant_id"], "wallet", entry["player_id"]),
            version_field="version",
            version=wallet_version(change.commit_lsn, entry["entry_id"]),
            fields={
                BALANCE_FIELD[entry["account_kind"]]: entry["balance_after_minor"],
                "currency": entry["currency"],
                "lsn": change.lsn,
                "updated_at_ms": change.commit_ts_ms,
            },
            model="wallet",
            partial=True,
        )
    ]
