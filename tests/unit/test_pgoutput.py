"""pgoutput parsing on bytes captured from a real PostgreSQL 15 (tests/fixtures)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from ledger.cdc import AckTracker, Origin, PendingTx, TxPosition, entry_record, parse_timestamp_ms
from ledger.pgoutput import (
    Begin,
    Commit,
    Insert,
    Other,
    PgOutputError,
    Relation,
    format_lsn,
    parse,
    parse_lsn,
)

FIXTURE = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "pgoutput_deposit.json").read_text()
)
MESSAGES = [parse(bytes.fromhex(m["hex"])) for m in FIXTURE["messages"]]


def test_message_sequence_of_one_deposit() -> None:
    assert [type(m) for m in MESSAGES] == [Begin, Relation, Insert, Insert, Commit]


def test_begin_and_commit() -> None:
    begin, commit = MESSAGES[0], MESSAGES[-1]
    assert isinstance(begin, Begin) and isinstance(commit, Commit)
    assert begin.xid == int(FIXTURE["messages"][0]["xid"]) == 776
    # the SQL interface reports the commit at the transaction's end LSN, after the commit record
    assert commit.end_lsn == parse_lsn(FIXTURE["messages"][-1]["lsn"]) == parse_lsn("0/19E8E30")
    assert commit.commit_lsn == parse_lsn("0/19E8E00") < commit.end_lsn
    assert begin.final_lsn == commit.commit_lsn
    assert begin.commit_ts_us == commit.commit_ts_us
    # captured on 2026-11-22 at 17:21:35 UTC
    assert parse_timestamp_ms("2026-11-22 17:21:35+00") <= commit.commit_ts_us // 1000
    assert commit.commit_ts_us // 1000 < parse_timestamp_ms("2026-11-22 17:21:36+00")


def test_relation_describes_ledger_entries() -> None:
    rel = MESSAGES[1]
    assert isinstance(rel, Relation)
    assert rel.qualified_name == "ledger.entries"
    assert [c.name for c in rel.columns] == [
        "entry_id", "transfer_id", "account_id", "account_kind", "player_id", "tenant_id",
        "brand_id", "jurisdiction", "kind", "amount_minor", "currency", "balance_after_minor",
        "idempotency_key", "created_at",
    ]  # fmt: skip
    assert rel.columns[0].flags == 1  # the primary key
    assert rel.columns[0].type_oid == 20  # int8


def test_inserts_carry_both_legs_as_text() -> None:
    rel = MESSAGES[1]
    assert isinstance(rel, Relation)
    cash, house = (
        dict(zip([c.name for c in rel.columns], m.values, strict=True)) for m in MESSAGES[2:4]
    )
    assert (cash["entry_id"], cash["amount_minor"], cash["balance_after_minor"]) == (
        "51",
        "12345",
        "12345",
    )
    assert (house["entry_id"], house["amount_minor"], house["balance_after_minor"]) == (
        "52",
        "-12345",
        None,
    )
    assert cash["account_kind"] == "cash" and house["account_kind"] == "house"
    assert cash["player_id"] == house["player_id"] == "fixture-player"
    assert cash["transfer_id"] == house["transfer_id"] == "0b4c7b44-f16d-4fab-baf6-7e93fc6ead6f"
    assert cash["created_at"] == "2026-11-22 17:21:35.466995+00"
    assert cash["currency"] == "EUR" and cash["jurisdiction"] == "MGA"


def test_envelope_of_a_captured_insert() -> None:
    rel = MESSAGES[1]
    assert isinstance(rel, Relation)
    columns = dict(zip([c.name for c in rel.columns], MESSAGES[3].values, strict=True))
    record = entry_record(columns, op="c", lsn=parse_lsn("0/19E8C30"), tx_id=776, commit_ts_ms=5,
                          origin=Origin("wagerstream_cdc", "wagerstream"),
                          position=TxPosition(0x19E8D00, 0x19E8000, 2), processed_ms=9)  # fmt: skip
    assert (
        record["lsn"] == 0x19E8C30 and record["op"] == "c" and record["table"] == "ledger.entries"
    )
    assert record["after"] == {
        "transfer_id": "0b4c7b44-f16d-4fab-baf6-7e93fc6ead6f", "entry_id": 52,
        "account_kind": "house", "player_id": "fixture-player", "tenant_id": "fixture-tenant",
        "brand_id": "fixture-brand", "jurisdiction": "MGA", "kind": "deposit",
        "amount_minor": -12345, "currency": "EUR", "balance_after_minor": None,
        "idempotency_key": "fixture-key-1", "created_at": 1795368095466,
    }  # fmt: skip
    # Debezium's PostgreSQL envelope beside it
    assert record["before"] is None and record["ts_ms"] == 9
    assert record["source"] == {
        "version": "wagerstream-relay/1", "connector": "postgresql", "name": "wagerstream_cdc",
        "ts_ms": 5, "snapshot": "false", "db": "wagerstream",
        "sequence": f'["{0x19E8000}", "{0x19E8C30}"]', "schema": "ledger", "table": "entries",
        "txId": 776, "lsn": 0x19E8C30, "xmin": None,
    }  # fmt: skip
    assert record["transaction"] == {
        "id": f"776:{0x19E8D00}", "total_order": 2, "data_collection_order": 2
    }  # fmt: skip


def test_truncated_and_unknown_messages_are_errors_not_crashes() -> None:
    raw = bytes.fromhex(FIXTURE["messages"][2]["hex"])
    with pytest.raises(PgOutputError):
        parse(raw[:-3])
    with pytest.raises(PgOutputError):
        parse(b"Z")
    with pytest.raises(PgOutputError):
        parse(b"")
    assert isinstance(parse(b"O" + struct.pack(">Q", 1) + b"origin\0"), Other)


def test_lsn_text_round_trip() -> None:
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    assert parse_lsn("0/19E8A60") == 0x19E8A60


def test_ack_tracker_confirms_only_a_fully_acked_prefix() -> None:
    t = AckTracker(confirmed=100)
    a, b, c = PendingTx(200, 0, 2, True), PendingTx(300, 0, 1, True), PendingTx(400, 0, 1, False)
    for tx in (a, b, c):
        t.open(tx)
    b.remaining = 0  # a later transaction acked first: nothing moves
    assert t.advance() == 100
    a.remaining = 1
    assert t.advance() == 100
    a.remaining = 0
    assert t.advance() == 300  # a and b
    c.remaining = 0  # acked but its commit not seen yet (more records may come)
    assert t.advance() == 300
    c.sealed = True
    assert t.advance() == 400
