"""Reading a `ledger.cdc` change, whichever envelope wrote it.

Version 2 of `ledger_cdc.avsc` carries Debezium's PostgreSQL envelope (`before`, `after`,
`source`, `op`, `ts_ms`, `transaction`) beside version 1's `lsn`, `tx_id`, `commit_ts` and
`table`. Consumers read Debezium's fields where a record has them (ours from version 2, or a
Debezium connector's own output) and version 1's otherwise, so the same code reads a record
from an older relay, from ours and from Debezium, and version 1's fields can be removed later
without touching a consumer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Change:
    op: str  # c, u, d, r
    lsn: int  # WAL position of this change
    tx_id: int  # 0 for snapshot reads
    commit_ts_ms: int
    table: str  # schema.table
    after: dict[str, Any] | None
    before: dict[str, Any] | None
    snapshot: bool
    # LSN of the commit that made the change visible: orders changes as readers saw them. A
    # transaction open while the relay took its first snapshot has changes written (lsn)
    # before the snapshot's point yet committed after it; lsn alone would order them first.
    commit_lsn: int


def _commit_lsn(record: dict[str, Any], lsn: int) -> int:
    transaction = record.get("transaction")
    if transaction and ":" in transaction.get("id", ""):
        return int(transaction["id"].rsplit(":", 1)[1])
    return lsn  # snapshot reads (their lsn is the snapshot's point) and version-1 records


def read_change(record: dict[str, Any]) -> Change:
    source = record.get("source")
    if source:
        lsn = source["lsn"] if source.get("lsn") is not None else record["lsn"]
        return Change(
            op=record["op"],
            lsn=lsn,
            tx_id=source.get("txId") or 0,
            commit_ts_ms=source["ts_ms"],
            table=f"{source['schema']}.{source['table']}",
            after=record.get("after"),
            before=record.get("before"),
            # Debezium writes "true", "last", "incremental" or "false" (older releases: a bool)
            snapshot=source.get("snapshot") in (True, "true", "last", "incremental"),
            commit_lsn=_commit_lsn(record, lsn),
        )
    return Change(
        op=record["op"],
        lsn=record["lsn"],
        tx_id=record["tx_id"],
        commit_ts_ms=record["commit_ts"],
        table=record["table"],
        after=record.get("after"),
        before=None,
        snapshot=record["op"] == "r",
        commit_lsn=record["lsn"],
    )
