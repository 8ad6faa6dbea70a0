"""The wallet projection's writes: which entries project, and how their versions order."""

from __future__ import annotations

from dataclasses import replace

from agents.rules.projections import wallet_version, wallet_writes
from sinks.read_models import newest
from tests.samples import SAMPLES
from topics.serde import SchemaStore

SCHEMA = SchemaStore().by_stem["ledger_cdc"]
CDC = SAMPLES["ledger_cdc"][1]


def cdc(kind: str, lsn: int, entry_id: int, balance: int | None) -> dict:
    after = {**CDC["after"], "account_kind": kind, "entry_id": entry_id}
    source = {**CDC["source"], "lsn": lsn}  # one change: both envelopes say the same lsn
    return {**CDC, "lsn": lsn, "source": source, "after": {**after, "balance_after_minor": balance}}


def test_player_legs_project_their_balance_and_house_legs_nothing() -> None:
    (cash,) = wallet_writes(SCHEMA, cdc("cash", 500, 7, 1_200))
    assert cash.key == "ws:t1:wallet:p1"
    assert cash.fields == {"cash_minor": 1_200, "currency": "EUR", "lsn": 500,
                           "updated_at_ms": CDC["commit_ts"]}  # fmt: skip
    (bonus,) = wallet_writes(SCHEMA, cdc("bonus", 501, 8, 40))
    assert bonus.fields["bonus_minor"] == 40 and "cash_minor" not in bonus.fields
    assert wallet_writes(SCHEMA, cdc("house", 502, 9, None)) == []


def test_versions_order_by_lsn_then_entry_id() -> None:
    snapshot_lsn = 10_000
    # the snapshot gives every historic entry one lsn: entry_id decides
    assert wallet_version(snapshot_lsn, 41) < wallet_version(snapshot_lsn, 42)
    # anything streamed after the snapshot is newer than all of it
    assert wallet_version(snapshot_lsn, 10**19) < wallet_version(snapshot_lsn + 1, 1)
    # and 64-bit LSNs keep their order
    assert wallet_version(2**63, 1) > wallet_version(2**63 - 1, 10**19)


def test_a_transaction_spanning_the_first_snapshot_is_newer_than_the_history() -> None:
    """Written at LSN 900, before the snapshot's point 1000, committed at 1100 after it: the
    relay streams it after the snapshot, and its balance must win over the history's."""
    snapshot = {**cdc("cash", 1000, 41, 500), "op": "r", "transaction": None,
                "source": {**CDC["source"], "lsn": 1000, "snapshot": "true"}}  # fmt: skip
    tx = {"id": "991:1100", "total_order": 1, "data_collection_order": 1}
    spanning = {**cdc("cash", 900, 42, 700), "transaction": tx}
    (old,) = wallet_writes(SCHEMA, snapshot)
    (new,) = wallet_writes(SCHEMA, spanning)
    assert new.version > old.version
    assert (old.version, new.version) == (wallet_version(1000, 41), wallet_version(1100, 42))
    assert new.fields["lsn"] == 900  # the read model still shows the entry's own position


def test_a_batch_keeps_both_legs_of_a_bonus_conversion() -> None:
    """bonus_convert moves A from the bonus account to cash in one transaction: two legs, one
    wallet key. A batch sends one write per key; it must carry both balances (it once kept
    the cash leg only, leaving the bonus balance at A in Redis)."""
    (bonus,) = wallet_writes(SCHEMA, cdc("bonus", 700, 20, 0))
    (cash,) = wallet_writes(SCHEMA, cdc("cash", 700, 21, 1_500))
    sent = newest(newest(None, bonus), cash)
    assert sent.version == cash.version > bonus.version  # the newer leg's
    assert (sent.fields["bonus_minor"], sent.fields["cash_minor"]) == (0, 1_500)
    # a full read model (not partial) replaces what came before it
    full = replace(cash, partial=False, fields={"cash_minor": 1})
    assert newest(bonus, full).fields == {"cash_minor": 1}
