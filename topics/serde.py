"""Avro encoding and decoding of the event contract, in both framings the contract allows.

* Single-object encoding (the default): ``C3 01`` + 8-byte little-endian CRC-64-AVRO
  fingerprint of the writer schema's canonical form + the Avro body. Needs no registry: the
  fingerprint names one of the schemas in ``schemas/avro/``.
* Confluent wire format (with ``WAGERSTREAM_SCHEMA_REGISTRY_URL``): ``00`` + 4-byte big-endian
schema id +
  body; the id is resolved through confluent-kafka's Schema Registry client, and the body is
  read with the registry's writer schema resolved against our reader schema.

The decoder accepts both, whatever the setting, so producers can migrate one at a time. Every
failure is a :class:`DecodeError` whose ``reason`` goes into the dead-letter header.

Logical types are stripped from the schemas we hand to fastavro (the canonical form, hence the
fingerprint, ignores them): timestamps stay integer milliseconds end to end, with no datetime
objects built per event on the hot path.
"""

from __future__ import annotations

import copy
import io
import json
import struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from topics.catalogue import spec

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "avro"
SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = 0


class DecodeError(ValueError):
    """Input that cannot become a contract event; ``code`` is stable, ``detail`` is for humans."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    @property
    def reason(self) -> str:
        return str(self)


def _strip_logical_types(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical_types(v) for v in node]
    return node


@dataclass(frozen=True)
class LoadedSchema:
    stem: str  # file name without .avsc: what the catalogue refers to
    raw: dict[str, Any]  # as written, with logical types (what a registry is given)
    parsed: Any  # fastavro-parsed, logical types stripped
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO

    @property
    def full_name(self) -> str:
        return f"{self.raw.get('namespace', '')}.{self.raw['name']}".lstrip(".")


class SchemaStore:
    """The schemas of ``schemas/avro/``, indexed by file stem, full name and fingerprint, and
    the earlier versions of ``schemas/avro/history/<stem>.v<N>.avsc``: a record written with an
    earlier version (a relay not yet upgraded, or retained on the topic) still decodes, read
    with today's schema through Avro's resolution (defaults for the fields added since)."""

    def __init__(self, directory: Path = SCHEMA_DIR) -> None:
        self.by_stem: dict[str, LoadedSchema] = {}
        self.by_fingerprint: dict[bytes, LoadedSchema] = {}
        self.by_name: dict[str, LoadedSchema] = {}
        self.writers: dict[bytes, Any] = {}  # earlier versions' fingerprints → writer schema
        for path in sorted(directory.glob("*.avsc")):
            self.add(path.stem, json.loads(path.read_text()))
        for path in sorted((directory / "history").glob("*.v*.avsc")):
            self.add_earlier(path.name.split(".v")[0], json.loads(path.read_text()))

    def add_earlier(self, stem: str, raw: dict[str, Any]) -> None:
        """An earlier version of `stem`: decoded as the current one, written by this one."""
        parsed = fastavro.parse_schema(_strip_logical_types(copy.deepcopy(raw)))
        fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
        if fp not in self.by_fingerprint:
            self.by_fingerprint[fp] = self.by_stem[stem]
            self.writers[fp] = parsed

    def add(self, stem: str, raw: dict[str, Any]) -> LoadedSchema:
        parsed = fastavro.parse_schema(_strip_logical_types(copy.deepcopy(raw)))
        canonical = to_parsing_canonical_form(parsed)
        loaded = LoadedSchema(
            stem, raw, parsed, bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        )
        self.by_stem[stem] = loaded
        self.by_fingerprint[loaded.fingerprint] = loaded
        self.by_name[loaded.full_name] = loaded
        return loaded


class AvroSerde:
    """Encode with the configured framing; decode either framing."""

    def __init__(self, store: SchemaStore | None = None, registry_url: str | None = None) -> None:
        self.store = store or SchemaStore()
        self.registry_url = registry_url
        self._ids_by_subject: dict[str, int] = {}
        self._writer_by_id: dict[int, tuple[LoadedSchema, Any]] = {}

    @cached_property
    def registry(self) -> Any:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        if not self.registry_url:
            raise DecodeError(
                "no_registry",
                "Confluent-framed message but WAGERSTREAM_SCHEMA_REGISTRY_URL is not set; set it "
                "to decode",
            )
        # new_client() also understands mock:// (the library's in-process registry, for tests)
        return SchemaRegistryClient.new_client({"url": self.registry_url})

    # -- encoding --------------------------------------------------------------------------
    def encode(self, topic: str, record: dict[str, Any]) -> bytes:
        schema = self.schema_for(topic)
        buf = io.BytesIO()
        if self.registry_url:
            buf.write(struct.pack(">bI", CONFLUENT_MAGIC, self._schema_id(topic, schema)))
        else:
            buf.write(SINGLE_OBJECT_MAGIC)
            buf.write(schema.fingerprint)
        fastavro.schemaless_writer(buf, schema.parsed, record)
        return buf.getvalue()

    def schema_for(self, topic: str) -> LoadedSchema:
        stem = spec(topic).schema
        if stem is None:
            raise ValueError(f"{topic} carries raw bytes, not Avro")
        return self.store.by_stem[stem]

    def _schema_id(self, topic: str, schema: LoadedSchema) -> int:
        subject = f"{topic}-value"  # Confluent's TopicNameStrategy
        if subject not in self._ids_by_subject:
            from confluent_kafka.schema_registry import Schema

            schema_id = self.registry.register_schema(
                subject, Schema(json.dumps(schema.raw), "AVRO")
            )
            self._ids_by_subject[subject] = schema_id
            self._writer_by_id[schema_id] = (schema, schema.parsed)
        return self._ids_by_subject[subject]

    # -- decoding --------------------------------------------------------------------------
    def decode(self, data: bytes | None) -> tuple[LoadedSchema, dict[str, Any]]:
        """Returns the reader schema and the record; raises DecodeError on anything else."""
        if not data:
            raise DecodeError("empty", "the message value is empty (a tombstone is not an event)")
        if data[:2] == SINGLE_OBJECT_MAGIC:
            if len(data) < 10:
                raise DecodeError(
                    "truncated", f"{len(data)} bytes, shorter than the 10-byte header"
                )
            schema = self.store.by_fingerprint.get(data[2:10])
            if schema is None:
                raise DecodeError(
                    "unknown_fingerprint",
                    f"schema fingerprint {data[2:10].hex()} is not one of schemas/avro/*.avsc",
                )
            reader = schema.parsed
            writer = self.store.writers.get(data[2:10], reader)
            body = data[10:]
        elif data[0] == CONFLUENT_MAGIC:
            if len(data) < 5:
                raise DecodeError("truncated", f"{len(data)} bytes, shorter than the 5-byte header")
            schema, writer = self._writer_for_id(struct.unpack(">I", data[1:5])[0])
            reader = schema.parsed
            body = data[5:]
        else:
            raise DecodeError(
                "bad_magic",
                f"first byte 0x{data[0]:02x} is neither 0xC3 (Avro single-object) "
                "nor 0x00 (Confluent wire format)",
            )
        buf = io.BytesIO(body)
        try:
            record = fastavro.schemaless_reader(buf, writer, None if reader is writer else reader)
        except Exception as exc:  # fastavro raises EOFError, ValueError, IndexError, ...
            raise DecodeError(
                "bad_body", f"Avro body does not match {schema.full_name}: {exc!r}"
            ) from exc
        if buf.tell() != len(body):
            raise DecodeError(
                "trailing_bytes",
                f"{len(body) - buf.tell()} bytes left after the {schema.full_name} body",
            )
        return schema, record

    def _writer_for_id(self, schema_id: int) -> tuple[LoadedSchema, Any]:
        if schema_id not in self._writer_by_id:
            try:
                registered = self.registry.get_schema(schema_id)
            except DecodeError:
                raise
            except Exception as exc:
                raise DecodeError(
                    "unknown_schema_id", f"registry has no schema {schema_id}: {exc}"
                ) from exc
            raw = json.loads(registered.schema_str)
            name = f"{raw.get('namespace', '')}.{raw.get('name', '')}".lstrip(".")
            reader = self.store.by_name.get(name)
            if reader is None:
                raise DecodeError("unknown_schema", f"schema id {schema_id} is {name}, not ours")
            writer = fastavro.parse_schema(_strip_logical_types(raw))
            self._writer_by_id[schema_id] = (reader, writer)
        return self._writer_by_id[schema_id]
