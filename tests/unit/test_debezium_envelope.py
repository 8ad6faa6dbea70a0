"""`ledger.cdc` in Debezium's envelope: a record laid out as Debezium's documentation shows
for its PostgreSQL connector gives our consumers the same values as our own record, and a
record of schema version 1 still decodes."""

from __future__ import annotations

import copy
import dataclasses
import io
import json

import fastavro

from agents.rules.projections import wallet_writes
from ledger.cdc import Origin, TxPosition, entry_record
from sinks.clickhouse.rows import ledger_entry
from topics.cdc import Change, read_change
from topics.serde import SCHEMA_DIR, SINGLE_OBJECT_MAGIC, AvroSerde, SchemaStore

ENTRY = {
    "transfer_id": "0b4c7b44-f16d-4fab-baf6-7e93fc6ead6f", "entry_id": 52,
    "account_kind": "cash", "player_id": "p1", "tenant_id": "t1", "brand_id": "b1",
    "jurisdiction": "MGA", "kind": "deposit", "amount_minor": 12345, "currency": "EUR",
    "balance_after_minor": 12345, "idempotency_key": "k1", "created_at": 1559033904000,
}  # fmt: skip

# The value payload of a create event in Debezium's PostgreSQL connector documentation
# ("Data change events", create event), its `after` replaced by a ledger row.
DEBEZIUM_DOC = {
    "before": None,
    "after": ENTRY,
    "source": {
        "version": "2.7.0.Final", "connector": "postgresql", "name": "PostgreSQL_server",
        "ts_ms": 1559033904863, "snapshot": "false", "db": "postgres",
        "sequence": '["24023119","24023128"]', "schema": "ledger", "table": "entries",
        "txId": 555, "lsn": 24023128, "xmin": None,
    },
    "op": "c",
    "ts_ms": 1559033904864,
    "transaction": {"id": "555:24023128", "total_order": 1, "data_collection_order": 1},
}  # fmt: skip

VERSION_1 = {"op": "c", "lsn": 24023128, "tx_id": 555, "commit_ts": 1559033904863,
             "table": "ledger.entries", "after": ENTRY}  # fmt: skip


def test_debezium_layout_reads_as_our_own() -> None:
    expected = Change(op="c", lsn=24023128, tx_id=555, commit_ts_ms=1559033904863,
                      table="ledger.entries", after=ENTRY, before=None, snapshot=False,
                      commit_lsn=24023128)  # fmt: skip
    assert read_change(DEBEZIUM_DOC) == expected
    assert read_change(VERSION_1) == expected
    # the consumers: the wallet read model and the ClickHouse fact row come out the same
    assert wallet_writes(None, DEBEZIUM_DOC) == wallet_writes(None, VERSION_1)  # type: ignore[arg-type]
    assert ledger_entry(DEBEZIUM_DOC, "ledger.cdc", 7) == ledger_entry(VERSION_1, "ledger.cdc", 7)
    snapshot = copy.deepcopy(DEBEZIUM_DOC) | {"op": "r"}
    snapshot["source"]["snapshot"] = "last"
    assert read_change(snapshot).snapshot is True


def test_our_record_has_debeziums_fields_and_the_same_values() -> None:
    columns = {k: None if v is None else str(v) for k, v in ENTRY.items()}
    columns["created_at"] = "2019-05-28 09:38:24+00"
    ours = entry_record(columns, op="c", lsn=24023128, tx_id=555, commit_ts_ms=1559033904863,
                        origin=Origin("wagerstream_cdc", "wagerstream"),
                        position=TxPosition(24023200, 24023119, 1))  # fmt: skip
    assert set(DEBEZIUM_DOC) <= set(ours)
    assert set(ours["source"]) == set(DEBEZIUM_DOC["source"])
    assert set(ours["transaction"]) == set(DEBEZIUM_DOC["transaction"])
    debezium_only = {k: ours[k] for k in DEBEZIUM_DOC}
    version_1_only = {k: ours[k] for k in VERSION_1}
    assert read_change(debezium_only) == read_change(ours)
    assert read_change(debezium_only).commit_lsn == 24023200  # from transaction.id
    # version 1 has no commit LSN: its readers order by the change's own (lsn)
    same = dataclasses.replace(read_change(version_1_only), commit_lsn=24023200)
    assert same == read_change(ours)
    assert json.loads(ours["source"]["sequence"]) == ["24023119", "24023128"]
    # and it is a valid record of today's schema: it round-trips through the serde
    serde = AvroSerde()
    _, decoded = serde.decode(serde.encode("ledger.cdc", ours))
    assert decoded == ours


def test_version_1_records_still_decode_with_todays_schema() -> None:
    store = SchemaStore()
    v1 = json.loads((SCHEMA_DIR / "history" / "ledger_cdc.v1.avsc").read_text())
    ((fp, writer),) = store.writers.items()  # the one earlier version kept
    assert store.by_fingerprint[fp].stem == "ledger_cdc" and v1["name"] == "LedgerCdc"
    buf = io.BytesIO()
    buf.write(SINGLE_OBJECT_MAGIC + fp)
    fastavro.schemaless_writer(buf, writer, VERSION_1)
    schema, record = AvroSerde(store).decode(buf.getvalue())
    assert schema.stem == "ledger_cdc"
    assert record == {**VERSION_1, "before": None, "source": None, "ts_ms": None,
                      "transaction": None}  # fmt: skip
    assert read_change(record) == read_change(VERSION_1)
