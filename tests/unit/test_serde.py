"""Both framings round-trip every schema; every kind of undecodable input gets its own reason."""

from __future__ import annotations

import struct

import pytest

from tests.samples import SAMPLES
from topics.serde import AvroSerde, DecodeError, SchemaStore


def test_every_schema_file_has_a_sample() -> None:
    assert set(SchemaStore().by_stem) == set(SAMPLES)


@pytest.mark.parametrize("stem", sorted(SAMPLES))
def test_single_object_round_trip(stem: str) -> None:
    topic, record = SAMPLES[stem]
    serde = AvroSerde()
    data = serde.encode(topic, record)
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == serde.store.by_stem[stem].fingerprint
    schema, decoded = serde.decode(data)
    assert schema.stem == stem
    assert decoded == record


@pytest.mark.parametrize("stem", sorted(SAMPLES))
def test_confluent_round_trip_through_registry(stem: str) -> None:
    topic, record = SAMPLES[stem]
    writer = AvroSerde(registry_url="mock://round-trip")
    data = writer.encode(topic, record)
    assert data[0] == 0
    schema_id = struct.unpack(">I", data[1:5])[0]
    # a second serde that only knows the registry, not the writer's cache
    reader = AvroSerde(registry_url="mock://round-trip")
    reader.registry = writer.registry
    assert reader.registry.get_schema(schema_id).schema_type == "AVRO"
    schema, decoded = reader.decode(data)
    assert (schema.stem, decoded) == (stem, record)


def test_decoder_without_registry_still_reads_single_object() -> None:
    topic, record = SAMPLES["bet_settled"]
    data = AvroSerde().encode(topic, record)
    assert AvroSerde(registry_url="mock://other").decode(data)[1] == record


def test_fingerprint_matches_avro_spec_vector() -> None:
    # CRC-64-AVRO of the canonical form "int" per the Avro test suite: 0x7275d51a3f395c8f,
    # which single-object encoding writes little-endian.
    from fastavro.schema import fingerprint

    assert bytes.fromhex(fingerprint('"int"', "CRC-64-AVRO")) == (0x7275D51A3F395C8F).to_bytes(
        8, "little"
    )


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"{}", "bad_magic"),
        (b"\xc3\x01\x00", "truncated"),
        (b"\xc3\x01" + b"\x11" * 8 + b"\x02", "unknown_fingerprint"),
        (b"\x00\x00\x00", "truncated"),
        (b"\x00\x00\x00\x00\x07\x02", "no_registry"),
    ],
)
def test_undecodable_inputs(data: bytes, code: str) -> None:
    with pytest.raises(DecodeError) as info:
        AvroSerde().decode(data)
    assert info.value.code == code
    assert info.value.reason.startswith(code + ": ")


def test_truncated_and_padded_bodies() -> None:
    topic, record = SAMPLES["bet_placed"]
    data = AvroSerde().encode(topic, record)
    with pytest.raises(DecodeError) as info:
        AvroSerde().decode(data[:-5])
    assert info.value.code == "bad_body"
    with pytest.raises(DecodeError) as info:
        AvroSerde().decode(data + b"\x00\x00")
    assert info.value.code == "trailing_bytes"


def test_unknown_schema_id_in_registry() -> None:
    serde = AvroSerde(registry_url="mock://empty")
    with pytest.raises(DecodeError) as info:
        serde.decode(b"\x00\x00\x00\x03\xe7\x02")
    assert info.value.code == "unknown_schema_id"
