"""Hostile input, property-based: nothing an upstream can send crashes a worker.

Every input either decodes and passes the contract, or raises DecodeError, which the runner
turns into a DLQ record with the reason (tests/integration/test_dead_letters.py checks that
path end to end). Events that pass are run through the player agent's handler with adversarial
values: amounts up to 2^63 - 1, timestamps from 1970 to the allowed skew ahead, currencies the
FX table does not know, unknown jurisdictions, duplicates and any delivery order.
"""

from __future__ import annotations

import copy
import string
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from faust.serializers import codecs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents import players, statecodec
from agents.runner import BatchState, Outcome
from tests.unit.rules_helpers import handler_batch, player_tables_as_dicts
from topics.catalogue import INPUT_TOPICS, SIGNAL_TOPICS, spec
from topics.contract import ISO_4217
from topics.deadletter import decode_checked
from topics.serde import AvroSerde, DecodeError

SERDE = AvroSerde()  # single-object framing: no registry needed
SKEW_MS = 300_000
NOW_MS = int(time.time() * 1000)
UPSTREAM = [t for t in INPUT_TOPICS if spec(t).upstream]
MAX_LONG = 2**63 - 1
CODEC = codecs.get_codec(statecodec.NAME)

texts = st.text(string.ascii_letters + string.digits + "-_:é ", max_size=12)


def mostly(
    valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Three in four draws valid, so most events get past the contract and reach the rules."""
    return st.one_of(valid, valid, valid, hostile)


amounts = mostly(st.one_of(st.integers(0, 10_000), st.integers(0, MAX_LONG)), st.integers(-3, -1))
timestamps = st.one_of(
    st.integers(NOW_MS - 3_600_000, NOW_MS),  # ordinary
    st.integers(0, NOW_MS),  # anywhere since 1970
    st.integers(NOW_MS, NOW_MS + 2 * SKEW_MS),  # ahead, within and beyond the allowed skew
)
currencies = mostly(
    st.sampled_from(["GBP", "EUR", "SEK", "CAD"]),
    st.one_of(st.sampled_from(sorted(ISO_4217)), texts),  # unknown to FX, or not ISO at all
)
OVERRIDES: dict[str, st.SearchStrategy[Any]] = {
    "event_id": mostly(st.uuids().map(str), texts),
    "occurred_at": timestamps,
    "event_start_at": st.one_of(st.none(), timestamps),
    "until": st.one_of(st.none(), timestamps),
    "tenant_id": mostly(st.sampled_from(["t1", "t2"]), st.just("")),
    "brand_id": mostly(st.just("b1"), st.sampled_from(["", " "])),
    "player_id": st.sampled_from(["p1", "p2"]),
    "jurisdiction": st.sampled_from(["UKGC", "MGA", "SE", "DE", "ON", "XX"]),
    "currency": currencies,
    "amount": st.one_of(st.none(), amounts),
    "bet_id": st.sampled_from(["b1", "b2", "b3"]),
    "payment_id": st.sampled_from(["d1", "d2", "w1"]),
    "session_id": st.sampled_from(["s1", "s2"]),
}


def _for_type(avro: Any) -> st.SearchStrategy[Any]:
    if isinstance(avro, list):  # a union
        return st.one_of(*[_for_type(branch) for branch in avro])
    if isinstance(avro, dict):
        if avro["type"] == "enum":
            return st.sampled_from(avro["symbols"])
        return _for_type(avro["type"])
    return {
        "null": st.none(),
        "string": texts,
        "long": st.integers(-(2**63), MAX_LONG),
        "int": st.integers(-(2**31), 2**31 - 1),
        "boolean": st.booleans(),
        "double": st.floats(allow_nan=True, allow_infinity=True),
    }[avro]


def _field(field: dict[str, Any]) -> st.SearchStrategy[Any]:
    name = field["name"]
    if name in OVERRIDES:
        return OVERRIDES[name]
    if name.endswith("_minor"):
        return amounts
    return _for_type(field["type"])


def _event(topic: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    fields = SERDE.schema_for(topic).raw["fields"]
    return st.fixed_dictionaries({f["name"]: _field(f) for f in fields}).map(
        lambda record: (topic, record)
    )


events = st.one_of(*[_event(topic) for topic in UPSTREAM])


@pytest.fixture(scope="module", autouse=True)
def dict_tables() -> Iterator[None]:
    """The tables the handler reads, as dicts for this module only (restored after it)."""
    with player_tables_as_dicts():
        yield


def _batch() -> BatchState:
    return handler_batch(NOW_MS)


def _handle(batch: BatchState, topic: str, record: dict[str, Any]) -> Outcome | None:
    """What the runner does with one message: decode or dead-letter, then the rules."""
    try:
        schema, decoded = decode_checked(
            SERDE, topic, SERDE.encode(topic, record), record["player_id"].encode(), SKEW_MS
        )
        outcome = players.handle(batch, schema, decoded)
    except DecodeError:
        return None  # the runner sends it to dlq.<topic> with the reason
    for write in outcome.writes:
        write.resolved()  # read models are computed at the end of a batch: they must not fail
    return outcome


def _signal_ids(outcome: Outcome | None) -> list[bytes]:
    if outcome is None:
        return []
    return [s.value for s in outcome.sends if s.topic in SIGNAL_TOPICS]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.sampled_from(INPUT_TOPICS), st.one_of(st.none(), st.binary()))
def test_arbitrary_bytes_decode_or_raise_decode_error(
    value: bytes, topic: str, key: bytes | None
) -> None:
    try:
        decode_checked(SERDE, topic, value, key, SKEW_MS)
    except DecodeError as exc:
        assert exc.reason  # the DLQ header: never empty


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.data())
def test_corrupted_valid_messages_decode_or_raise_decode_error(
    event: tuple[str, dict[str, Any]], data: st.DataObject
) -> None:
    topic, record = event
    encoded = bytearray(SERDE.encode(topic, record))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(encoded) - 1))
        encoded[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(encoded)))
    for value in (bytes(encoded), bytes(encoded[:cut]), bytes(encoded) + b"\x00"):
        try:
            decode_checked(SERDE, topic, value, record["player_id"].encode(), SKEW_MS)
        except DecodeError as exc:
            assert exc.reason


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, min_size=1, max_size=25))
def test_rules_survive_adversarial_sequences_and_keep_encodable_state(
    sequence: list[tuple[str, dict[str, Any]]],
) -> None:
    batch = _batch()
    for topic, record in sequence:
        _handle(batch, topic, record)
    for table, _, value in batch.changes():
        assert CODEC.loads(CODEC.dumps(value)) == value, table  # state survives a changelog


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, min_size=1, max_size=20), st.data())
def test_a_redelivered_event_changes_no_state_and_fires_nothing(
    sequence: list[tuple[str, dict[str, Any]]], data: st.DataObject
) -> None:
    batch = _batch()
    for topic, record in sequence:
        _handle(batch, topic, record)
    topic, record = data.draw(st.sampled_from(sequence))
    before = copy.deepcopy(batch.changed_value(players.player_risk.name, _key(record)))
    outcome = _handle(batch, topic, record)
    after = batch.changed_value(players.player_risk.name, _key(record))
    assert _signal_ids(outcome) == []
    assert after == before


def _key(record: dict[str, Any]) -> str:
    return f"{record['tenant_id']}:{record['player_id']}"


def test_a_far_future_timestamp_is_refused_with_the_skew_named() -> None:
    record = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": NOW_MS + 10 * 365 * 86_400_000,
        "tenant_id": "t1",
        "brand_id": "b1",
        "jurisdiction": "UKGC",
        "player_id": "p1",
        "trace_id": None,
        "session_id": "s1",
        "kind": "login",
        "device_hash": "d",
        "ip_country": "GB",
    }
    try:
        decode_checked(
            SERDE, "player.session", SERDE.encode("player.session", record), b"p1", SKEW_MS
        )
    except DecodeError as exc:
        assert exc.code == "future_timestamp"
        assert "WAGERSTREAM_MAX_CLOCK_SKEW_MS" in exc.reason
    else:
        raise AssertionError("a timestamp ten years ahead was accepted")
