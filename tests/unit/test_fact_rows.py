"""Records → fact rows: every column filled, in the order of the DDL."""

from __future__ import annotations

from datetime import UTC, datetime

from sinks.clickhouse.rows import COLUMNS, MAPPERS
from tests.samples import SAMPLES, T0

JAN1 = datetime(2026, 1, 1, tzinfo=UTC)


def row(stem: str, offset: int = 7) -> dict:
    topic, record = SAMPLES[stem]
    table, values = MAPPERS[stem](record, topic, offset)
    assert len(values) == len(COLUMNS[table])
    return dict(zip(COLUMNS[table], values, strict=True))


def test_ledger_entry_keeps_lsn_as_version_and_times_as_utc() -> None:
    r = row("ledger_cdc")
    assert (r["tenant_id"], r["entry_id"], r["amount_minor"], r["lsn"]) == (
        "t1",
        5,
        -5000,
        2**40 + 17,
    )
    assert r["created_at"] == JAN1 and r["commit_ts"] == JAN1


def test_bets_have_one_row_per_stage_versioned_by_offset() -> None:
    placed, settled = row("bet_placed", 11), row("bet_settled", 12)
    assert (placed["stage"], placed["stake_minor"], placed["version"]) == ("placed", 1000, 11)
    assert placed["event_start_at"] == datetime.fromtimestamp((T0 + 3_600_000) / 1000, tz=UTC)
    assert (settled["stage"], settled["payout_minor"], settled["outcome"]) == (
        "settled",
        2500,
        "won",
    )


def test_payments_and_signals() -> None:
    assert row("payment_withdrawal")["direction"] == "withdrawal"
    assert row("payment_deposit")["direction"] == "deposit"
    signal = row("signal")
    assert (signal["topic"], signal["code"], signal["evidence"]) == (
        "aml.alert",
        "structuring",
        ["e1", "e2", "e3"],
    )
