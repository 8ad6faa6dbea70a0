"""Decoded records → rows of the ClickHouse fact tables (columns as in migrations/).

Pure functions, one per source schema, so the mapping is unit-tested without Kafka or
ClickHouse. `version` is the Kafka offset (or the ledger LSN): a redelivered message carries
the same sorting key and version as its first copy, so ReplacingMergeTree keeps one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from topics.cdc import read_change

Row = list[Any]

COLUMNS: dict[str, list[str]] = {
    "ledger_entries": [
        "tenant_id", "entry_id", "transfer_id", "brand_id", "jurisdiction", "player_id",
        "account_kind", "kind", "amount_minor", "currency", "balance_after_minor",
        "idempotency_key", "created_at", "commit_ts", "lsn", "tx_id", "op",
    ],
    "bets": [
        "tenant_id", "bet_id", "stage", "brand_id", "jurisdiction", "player_id", "product",
        "provider", "stake_minor", "bonus_stake_minor", "payout_minor", "outcome", "currency",
        "occurred_at", "event_start_at", "version",
    ],
    "payments": [
        "tenant_id", "payment_id", "direction", "status", "brand_id", "jurisdiction",
        "player_id", "amount_minor", "currency", "method", "occurred_at", "version",
    ],
    "signals": [
        "tenant_id", "signal_id", "topic", "code", "severity", "brand_id", "jurisdiction",
        "player_id", "value_minor", "threshold_minor", "window", "evidence", "occurred_at",
        "version",
    ],
    "bonus_progress": [
        "tenant_id", "bonus_id", "brand_id", "jurisdiction", "player_id", "currency",
        "bonus_minor", "multiplier", "required_minor", "wagered_minor", "status", "granted_at",
        "updated_at", "revision",
    ],
}  # fmt: skip


def ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def ledger_entry(record: dict[str, Any], topic: str, offset: int) -> tuple[str, Row] | None:
    change = read_change(record)
    e = change.after
    if e is None:
        return None
    return "ledger_entries", [
        e["tenant_id"], e["entry_id"], e["transfer_id"], e["brand_id"], e["jurisdiction"] or "",
        e["player_id"] or "", e["account_kind"], e["kind"], e["amount_minor"], e["currency"],
        e["balance_after_minor"], e["idempotency_key"], ts(e["created_at"]),
        ts(change.commit_ts_ms), change.lsn, change.tx_id, change.op,
    ]  # fmt: skip


def bet_placed(r: dict[str, Any], topic: str, offset: int) -> tuple[str, Row]:
    return "bets", [
        r["tenant_id"], r["bet_id"], "placed", r["brand_id"], r["jurisdiction"], r["player_id"],
        r["product"], r["provider"], r["stake_minor"], r["bonus_stake_minor"], 0, "",
        r["currency"], ts(r["occurred_at"]), ts(r["event_start_at"]), offset,
    ]  # fmt: skip


def bet_settled(r: dict[str, Any], topic: str, offset: int) -> tuple[str, Row]:
    return "bets", [
        r["tenant_id"], r["bet_id"], "settled", r["brand_id"], r["jurisdiction"], r["player_id"],
        "", "", 0, 0, r["payout_minor"], r["outcome"], r["currency"], ts(r["occurred_at"]),
        None, offset,
    ]  # fmt: skip


def payment(r: dict[str, Any], topic: str, offset: int) -> tuple[str, Row]:
    direction = "deposit" if topic == "payment.deposit" else "withdrawal"
    return "payments", [
        r["tenant_id"], r["payment_id"], direction, r["status"], r["brand_id"],
        r["jurisdiction"], r["player_id"], r["amount_minor"], r["currency"], r["method"],
        ts(r["occurred_at"]), offset,
    ]  # fmt: skip


def signal(r: dict[str, Any], topic: str, offset: int) -> tuple[str, Row]:
    return "signals", [
        r["tenant_id"], r["signal_id"], topic, r["code"], r["severity"], r["brand_id"],
        r["jurisdiction"], r["player_id"], r["value_minor"], r["threshold_minor"], r["window"],
        r["evidence"], ts(r["occurred_at"]), offset,
    ]  # fmt: skip


def bonus(r: dict[str, Any], topic: str, offset: int) -> tuple[str, Row]:
    """`revision`, not the offset, is the version: a bonus's newest state wins even when an
    older revision is re-sent later (a worker replaying after a crash)."""
    return "bonus_progress", [
        r["tenant_id"], r["bonus_id"], r["brand_id"], r["jurisdiction"], r["player_id"],
        r["currency"], r["bonus_minor"], r["multiplier"], r["required_minor"],
        r["wagered_minor"], r["status"], ts(r["granted_at"]), ts(r["updated_at"]),
        r["revision"],
    ]  # fmt: skip


MAPPERS: dict[str, Callable[[dict[str, Any], str, int], tuple[str, Row] | None]] = {
    "ledger_cdc": ledger_entry,
    "bet_placed": bet_placed,
    "bet_settled": bet_settled,
    "payment_deposit": payment,
    "payment_withdrawal": payment,
    "signal": signal,
    "bonus_wagering": bonus,
}
