"""One valid record per contract schema, written out by hand (not generated from the schemas),
and `event`, the one builder every test's events start from."""

from __future__ import annotations

import copy
import uuid
from typing import Any

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
COMMON = {
    "event_id": "0b9f6a4e-3f52-4a63-9d1e-5f7a3c2b1a00",
    "occurred_at": T0,
    "tenant_id": "t1",
    "brand_id": "b1",
    "jurisdiction": "UKGC",
    "player_id": "p1",
    "trace_id": None,
}
SIGNAL = {
    "signal_id": "s1",
    "player_id": "p1",
    "tenant_id": "t1",
    "brand_id": "b1",
    "jurisdiction": "MGA",
    "code": "structuring",
    "severity": "high",
    "value_minor": 560000,
    "threshold_minor": 200000,
    "window": "24h",
    "evidence": ["e1", "e2", "e3"],
    "occurred_at": T0,
    "trace_id": "tr",
}

SAMPLES: dict[str, tuple[str, dict]] = {
    "bet_placed": (
        "bet.placed",
        {
            **COMMON,
            "bet_id": "b-1",
            "product": "sportsbook",
            "provider": "kambi",
            "market_id": "m-9",
            "stake_minor": 1000,
            "bonus_stake_minor": 0,
            "currency": "GBP",
            "odds": 2.5,
            "event_start_at": T0 + 3_600_000,
        },
    ),
    "bet_settled": (
        "bet.settled",
        {
            **COMMON,
            "bet_id": "b-1",
            "outcome": "won",
            "payout_minor": 2500,
            "currency": "GBP",
        },
    ),
    "payment_deposit": (
        "payment.deposit",
        {
            **COMMON,
            "payment_id": "d-1",
            "status": "succeeded",
            "amount_minor": 5000,
            "currency": "EUR",
            "method": "card",
            "instrument_hash": "ih",
            "psp": "adyen",
            "payer_name_match": True,
        },
    ),
    "payment_withdrawal": (
        "payment.withdrawal",
        {
            **COMMON,
            "payment_id": "w-1",
            "status": "requested",
            "amount_minor": 4000,
            "currency": "EUR",
            "method": "bank",
            "instrument_hash": "ih",
        },
    ),
    "player_session": (
        "player.session",
        {
            **COMMON,
            "session_id": "s-1",
            "kind": "login",
            "device_hash": "dh",
            "ip_country": "GB",
        },
    ),
    "player_limit": (
        "player.limit",
        {
            **COMMON,
            "limit_type": "deposit",
            "period": "month",
            "amount": 100000,
            "until": None,
        },
    ),
    "ledger_cdc": (
        "ledger.cdc",
        {
            "op": "c",
            "lsn": 2**40 + 17,
            "tx_id": 991,
            "commit_ts": T0,
            "table": "ledger.entries",
            "after": {
                "transfer_id": "tr-1",
                "entry_id": 5,
                "account_kind": "cash",
                "player_id": "p1",
                "tenant_id": "t1",
                "brand_id": "b1",
                "jurisdiction": "MGA",
                "kind": "deposit",
                "amount_minor": -5000,
                "currency": "EUR",
                "balance_after_minor": 0,
                "idempotency_key": "k1",
                "created_at": T0,
            },
            "before": None,
            "source": {
                "version": "wagerstream-relay/1",
                "connector": "postgresql",
                "name": "wagerstream_cdc",
                "ts_ms": T0,
                "snapshot": "false",
                "db": "wagerstream",
                "sequence": f'["{2**40}", "{2**40 + 17}"]',
                "schema": "ledger",
                "table": "entries",
                "txId": 991,
                "lsn": 2**40 + 17,
                "xmin": None,
            },
            "ts_ms": T0 + 3,
            "transaction": {
                "id": f"991:{2**40 + 40}",
                "total_order": 1,
                "data_collection_order": 1,
            },
        },
    ),
    "signal": ("aml.alert", SIGNAL),
    "instrument_use": (
        "wagerstream.instrument-uses",
        {
            "player_id": "p1",
            "tenant_id": "t1",
            "brand_id": "b1",
            "jurisdiction": "MGA",
            "instrument_hash": "ih",
            "event_id": "e1",
            "occurred_at": T0,
            "trace_id": None,
        },
    ),
    "instrument_hit": (
        "wagerstream.instrument-hits",
        {
            "player_id": "p1",
            "tenant_id": "t1",
            "brand_id": "b1",
            "jurisdiction": "MGA",
            "instrument_hash": "ih",
            "players": ["p1", "p2", "p3"],
            "evidence": ["e1", "e2", "e3"],
            "event_id": "instrument-hit:ih:p1",
            "occurred_at": T0,
            "trace_id": None,
        },
    ),
    "bet_tick": (
        "wagerstream.bet-ticks",
        {"player_id": "p1", "tenant_id": "t1", "occurred_at": T0},
    ),
    "bonus_wagering": (
        "bonus.wagering",
        {
            "bonus_id": "tr-1",
            "tenant_id": "t1",
            "brand_id": "b1",
            "jurisdiction": "UKGC",
            "player_id": "p1",
            "currency": "GBP",
            "bonus_minor": 1000,
            "multiplier": 10,
            "required_minor": 10000,
            "wagered_minor": 2500,
            "status": "active",
            "granted_at": T0,
            "updated_at": T0 + 60_000,
            "revision": 2,
        },
    ),
}


def event(stem: str, **fields: Any) -> dict[str, Any]:
    """A valid `stem` record: its sample with a fresh `event_id`, then `fields` over it, so a
    contract change is made here once for every test."""
    record = copy.deepcopy(SAMPLES[stem][1])
    if "event_id" in record:
        record["event_id"] = str(uuid.uuid4())
    record.update(fields)
    return record
