"""Contract rules beyond Avro's types."""

from __future__ import annotations

import pytest

from tests.samples import SAMPLES, T0
from wagerstream.contract import validate
from wagerstream.serde import DecodeError

BET = SAMPLES["bet_placed"][1]
NOW = T0 + 1_000


def code_of(record: dict, key: bytes | None = b"p1", skew: int = 300_000) -> str | None:
    try:
        validate(record, key, skew, now_ms=NOW)
    except DecodeError as exc:
        return exc.code
    return None


def test_valid_event_passes() -> None:
    assert code_of(BET) is None


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"tenant_id": ""}, "missing_field"),
        ({"brand_id": "  "}, "missing_field"),
        ({"player_id": ""}, "missing_field"),
        ({"event_id": "not-a-uuid"}, "bad_event_id"),
        ({"stake_minor": -1}, "negative_amount"),
        ({"bonus_stake_minor": -5}, "negative_amount"),
        ({"currency": "QQQ"}, "unknown_currency"),
        ({"currency": "gbp"}, "unknown_currency"),
        ({"occurred_at": NOW + 300_001}, "future_timestamp"),
    ],
)
def test_broken_rules(change: dict, code: str) -> None:
    assert code_of({**BET, **change}) == code


def test_skew_boundary_and_past_events_are_fine() -> None:
    assert code_of({**BET, "occurred_at": NOW + 300_000}) is None
    assert code_of({**BET, "occurred_at": 0}) is None


def test_key_must_be_the_player() -> None:
    assert code_of(BET, key=b"p2") == "key_mismatch"
    assert code_of(BET, key=None) is None


def test_null_limit_amount_removes_a_limit_and_is_valid() -> None:
    limit = SAMPLES["player_limit"][1]
    assert code_of({**limit, "amount": None}) is None
    assert code_of({**limit, "amount": -1}) == "negative_amount"
