"""Contract rules beyond Avro's types."""

from __future__ import annotations

import pytest

from tests.samples import SAMPLES, T0
from topics.contract import validate
from topics.serde import DecodeError

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


@pytest.mark.parametrize(
    ("event_id", "code"),
    [
        ("1b4e28ba-2fa1-11d2-883f-0016d3cca427", None),
        ("1B4E28BA-2FA1-11D2-883F-0016D3CCA427", None),  # upper case
        ("{1b4e28ba-2fa1-11d2-883f-0016d3cca427}", None),  # forms uuid.UUID takes as well
        ("urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427", None),
        ("1b4e28ba2fa111d2883f0016d3cca427", None),
        ("1b4e28ba-2fa1-11d2-883f-0016d3cca42", "bad_event_id"),  # one digit short
        ("1b4e28ba-2fa1-11d2-883f-0016d3cca427\n", "bad_event_id"),
        ("1b4e28ba-2fa1-11d2-883f-0016d3cca4zz", "bad_event_id"),
    ],
)
def test_event_ids_are_uuids_in_any_form_uuid_takes(event_id: str, code: str | None) -> None:
    assert code_of({**BET, "event_id": event_id}) == code


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


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        ("4111 1111 1111 1111", True),  # a test Visa PAN, spaced
        ("4111111111111111", True),
        ("4111111111111112", False),  # fails Luhn: not a card number
        ("player@example.com", True),
        ("192.168.10.4", True),
        ("2001:db8::1", True),
        ("fe80::1%eth0", True),  # scoped IPv6
        ("::ffff:10.0.0.1", True),  # IPv4-mapped IPv6
        ("ab@cd", False),  # no dot after the @: not an e-mail
        ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", False),
        ("card-1", False),
    ],
)
def test_identifiers_must_arrive_hashed(value: str, refused: bool) -> None:
    deposit = SAMPLES["payment_deposit"][1]
    session = SAMPLES["player_session"][1]
    assert code_of({**deposit, "instrument_hash": value}) == (
        "unhashed_identifier" if refused else None
    )
    assert code_of({**session, "device_hash": value}) == (
        "unhashed_identifier" if refused else None
    )
