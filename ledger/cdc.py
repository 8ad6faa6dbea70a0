"""CDC relay: committed ledger entries → `ledger.cdc` in Kafka, losing nothing.

PostgreSQL side: a logical replication slot with the built-in `pgoutput` plugin over the
`wagerstream_ledger` publication, streamed through psycopg 3's low-level connection
(`START_REPLICATION` leaves the connection in COPY_BOTH; we read with `get_copy_data` and
answer with standby status updates through `put_copy_data`). The messages are parsed by our
own `ledger.pgoutput`.

Kafka side: an idempotent confluent-kafka producer (`acks=all`), one record per entry keyed by
`player_id` (murmur2, like every other producer of ours).

The guarantee: the slot's confirmed LSN only moves to the end of a transaction once Kafka has
acknowledged every record of that transaction *and of all transactions before it*
(`AckTracker`). A crash at any moment therefore replays from the last fully acknowledged
transaction: records may be duplicated, never lost, and a duplicate carries the same `lsn`
and `entry_id` as its first copy because both come from the WAL.

First run: the slot is created with `SNAPSHOT 'use'` inside a REPEATABLE READ transaction, so
the entries already in the ledger are read from exactly the snapshot the slot starts after:
emitted as `op = r` with the slot's consistent point as `lsn`, then streaming begins there,
without gap or overlap. A marker row (`cdc.relay_state`) records that the snapshot was fully
acknowledged; a relay that dies during the snapshot drops the slot and starts over.
"""

from __future__ import annotations

import json
import logging
import select
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from confluent_kafka import KafkaError, Message, Producer
from psycopg import pq

from foundation import tracing
from foundation.kafka import producer_config
from ledger.metrics import CDC_ACK_LATENCY, CDC_RECORDS, CDC_SLOT_LAG_BYTES, CDC_SLOT_LAG_SECONDS
from ledger.pgoutput import Begin, Commit, Insert, Relation, format_lsn, parse, parse_lsn
from topics.serde import AvroSerde

log = logging.getLogger(__name__)

PUBLICATION = "wagerstream_ledger"
ENTRIES = "ledger.entries"
PG_EPOCH_US = 946_684_800_000_000
INT_COLUMNS = ("entry_id", "amount_minor", "balance_after_minor")


HEALTHY_LOOP_S = 30.0


class RelayError(RuntimeError):
    pass


@dataclass
class PendingTx:
    end_lsn: int
    commit_ts_us: int
    remaining: int = 0
    sealed: bool = False  # commit seen: no more records will be added


@dataclass
class AckTracker:
    """The LSN the slot may confirm: the end of the longest prefix of fully acked transactions."""

    confirmed: int = 0
    pending: deque[PendingTx] = field(default_factory=deque)

    def open(self, tx: PendingTx) -> None:
        self.pending.append(tx)

    def advance(self) -> int:
        while self.pending and self.pending[0].sealed and self.pending[0].remaining == 0:
            self.confirmed = max(self.confirmed, self.pending.popleft().end_lsn)
        return self.confirmed

    def oldest_unconfirmed_ts_us(self) -> int | None:
        return self.pending[0].commit_ts_us if self.pending else None


def parse_timestamp_ms(text: str) -> int:
    """PostgreSQL's text form of timestamptz → Unix milliseconds."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@dataclass(frozen=True)
class Origin:
    """What Debezium's `source` block says of this relay: the same for every record."""

    name: str  # Debezium's logical server name (topic.prefix): the relay's slot
    db: str
    version: str = "wagerstream-relay/1"


@dataclass(frozen=True)
class TxPosition:
    """Where a streamed change sits: its transaction's commit LSN, the previous commit's LSN
    and its 1-based order in the transaction (Debezium's `sequence` and `transaction`)."""

    commit_lsn: int
    last_commit_lsn: int | None
    order: int


def entry_record(
    columns: dict[str, str | None],
    *,
    op: str,
    lsn: int,
    tx_id: int,
    commit_ts_ms: int,
    origin: Origin,
    position: TxPosition | None = None,
    processed_ms: int | None = None,
) -> dict[str, Any]:
    """A `ledger.cdc` envelope (schemas/avro/ledger_cdc.avsc) for one entries row: Debezium's
    PostgreSQL connector layout (`before`, `after`, `source`, `op`, `ts_ms`, `transaction`)
    with version 1's `lsn`, `tx_id`, `commit_ts` and `table` beside it. `position` is None for
    snapshot reads, which have no transaction (as in Debezium)."""
    after: dict[str, Any] = {
        name: columns.get(name)
        for name in (
            "transfer_id", "account_kind", "player_id", "tenant_id", "brand_id", "kind",
            "currency", "idempotency_key", "jurisdiction",
        )
    }  # fmt: skip
    for name in INT_COLUMNS:
        value = columns.get(name)
        after[name] = None if value is None else int(value)
    after["currency"] = (after["currency"] or "").strip()
    after["created_at"] = parse_timestamp_ms(columns["created_at"] or "")
    schema, table = ENTRIES.split(".")
    source = {
        "version": origin.version, "connector": "postgresql", "name": origin.name,
        "ts_ms": commit_ts_ms, "snapshot": "true" if position is None else "false",
        "db": origin.db, "sequence": None, "schema": schema, "table": table,
        "txId": tx_id or None, "lsn": lsn, "xmin": None,
    }  # fmt: skip
    transaction = None
    if position is not None:
        last = None if position.last_commit_lsn is None else str(position.last_commit_lsn)
        source["sequence"] = json.dumps([last, str(lsn)])
        transaction = {
            "id": f"{tx_id}:{position.commit_lsn}",
            "total_order": position.order,
            "data_collection_order": position.order,  # one table is published
        }
    return {
        "op": op,
        "lsn": lsn,
        "tx_id": tx_id,
        "commit_ts": commit_ts_ms,
        "table": ENTRIES,
        "after": after,
        "before": None,  # the ledger is append-only: inserts and snapshot reads only
        "source": source,
        "ts_ms": int(time.time() * 1000) if processed_ms is None else processed_ms,
        "transaction": transaction,
    }


class CdcRelay:
    def __init__(
        self,
        dsn: str,
        bootstrap: str,
        serde: AvroSerde,
        slot: str = "wagerstream_cdc",
        topic: str = "ledger.cdc",
        status_interval_s: float = 1.0,
        producer_config_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.dsn = dsn
        self.slot = slot
        self.origin = Origin(slot, psycopg.conninfo.conninfo_to_dict(dsn).get("dbname") or "")
        self.topic = topic
        self.serde = serde
        self.status_interval_s = status_interval_s
        self.producer = Producer(
            producer_config(bootstrap, **{"linger.ms": 2, **(producer_config_overrides or {})})
        )
        self.tracker = AckTracker()
        self.relations: dict[int, Relation] = {}
        self.failure: str | None = None
        self.stop_event = threading.Event()
        self.acked = 0
        self.streaming = False
        self.looped_at: float | None = None  # monotonic time of the stream loop's last turn
        # commit → ack latencies in seconds, kept only when a benchmark asks for them
        self.latencies: list[float] | None = None

    # -- Kafka -----------------------------------------------------------------------------
    def _produce(self, record: dict[str, Any], tx: PendingTx) -> None:
        tx.remaining += 1
        commit_ts_us = tx.commit_ts_us

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self.failure = f"Kafka refused a ledger.cdc record: {err}"
                return
            tx.remaining -= 1
            self.acked += 1
            latency = max(0.0, time.time() - commit_ts_us / 1e6)
            CDC_RECORDS.inc()
            CDC_ACK_LATENCY.observe(latency)
            if self.latencies is not None:
                self.latencies.append(latency)

        after = record["after"]
        key = (after["player_id"] or after["tenant_id"]).encode()
        value = self.serde.encode(self.topic, record)
        headers = None
        # a transfer's legs share one trace (its id is the transfer id); snapshot rows are
        # history, not new work, and are not traced
        if tracing.ENABLED and record["op"] == "c":
            with tracing.span(
                f"{self.topic} publish",
                kind=tracing.SpanKind.PRODUCER,
                trace_id=after["transfer_id"],
                attributes={"messaging.system": "kafka", "messaging.destination.name": self.topic,
                            "ledger.entry_id": after["entry_id"], "ledger.kind": after["kind"],
                            "ledger.account_kind": after["account_kind"],
                            **tracing.event_attributes(after)},
            ) as span:  # fmt: skip
                headers = tracing.headers_of(span)
        while True:
            try:
                self.producer.produce(
                    self.topic, value=value, key=key, headers=headers, on_delivery=delivered
                )
                return
            except BufferError:
                self.producer.poll(0.05)

    # -- slot and snapshot -----------------------------------------------------------------
    def _sql(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True)

    def _slot_lsn(self) -> int | None:
        with self._sql() as conn:
            if not conn.execute(
                "SELECT 1 FROM pg_publication WHERE pubname = %s", (PUBLICATION,)
            ).fetchone():
                raise RelayError(
                    f"publication {PUBLICATION} does not exist in this database. "
                    "Fix: run `wagerstream ledger migrate` first"
                )
            if conn.execute("SELECT to_regclass('cdc.relay_state')").fetchone() == (None,):
                raise RelayError(
                    "table cdc.relay_state does not exist in this database. "
                    "Fix: run `wagerstream ledger migrate` first"
                )
            row = conn.execute(
                "SELECT s.confirmed_flush_lsn::text, r.slot IS NOT NULL"
                " FROM pg_replication_slots s LEFT JOIN cdc.relay_state r ON r.slot = s.slot_name"
                " WHERE s.slot_name = %s",
                (self.slot,),
            ).fetchone()
            if row is None:
                conn.execute("DELETE FROM cdc.relay_state WHERE slot = %s", (self.slot,))
                return None
            lsn_text, snapshot_done = row
            if not snapshot_done:
                log.warning("slot %s exists but its snapshot never completed: redoing", self.slot)
                conn.execute("SELECT pg_drop_replication_slot(%s)", (self.slot,))
                return None
            return parse_lsn(lsn_text)

    def _replication_connection(self) -> psycopg.Connection:
        return psycopg.connect(
            self.dsn, autocommit=True, replication="database", options="-c timezone=UTC"
        )

    @staticmethod
    def _exec(pg: pq.abc.PGconn, sql: str) -> pq.abc.PGresult:
        result = pg.exec_(sql.encode())
        if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
            raise RelayError(f"{sql!r} failed: {result.error_message.decode(errors='replace')}")
        return result

    def snapshot(self) -> int:
        """Create the slot and emit the ledger's history as op=r; returns the slot's start LSN."""
        conn = self._replication_connection()
        pg = conn.pgconn
        try:
            self._exec(pg, "BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ")
            created = self._exec(
                pg, f"CREATE_REPLICATION_SLOT {self.slot} LOGICAL pgoutput (SNAPSHOT 'use')"
            )
            start = parse_lsn(created.get_value(0, 1).decode())
            log.info("snapshot of the ledger into slot %s started at %s", self.slot,
                     format_lsn(start))  # fmt: skip
            tx = PendingTx(end_lsn=start, commit_ts_us=int(time.time() * 1e6))
            self.tracker.open(tx)
            self._exec(
                pg, f"DECLARE snap NO SCROLL CURSOR FOR SELECT * FROM {ENTRIES} ORDER BY entry_id"
            )
            rows = 0
            while True:
                batch = self._exec(pg, "FETCH 5000 FROM snap")
                if batch.ntuples == 0:
                    break
                names = [batch.fname(i).decode() for i in range(batch.nfields)]
                for r in range(batch.ntuples):
                    raw = (batch.get_value(r, i) for i in range(batch.nfields))
                    values = dict(zip(names, (None if v is None else v.decode() for v in raw),
                                      strict=True))  # fmt: skip
                    record = entry_record(values, op="r", lsn=start, tx_id=0, commit_ts_ms=0,
                                          origin=self.origin)  # fmt: skip
                    # history has no commit time of its own here: its creation time stands in
                    record["commit_ts"] = record["source"]["ts_ms"] = record["after"]["created_at"]
                    self._produce(record, tx)
                    rows += 1
                self.producer.poll(0)
            self._exec(pg, "COMMIT")
        finally:
            conn.close()
        tx.sealed = True
        self._flush_all()
        with self._sql() as sql:
            sql.execute(
                "INSERT INTO cdc.relay_state (slot, snapshot_lsn, snapshot_rows)"
                " VALUES (%s, %s, %s)",
                (self.slot, format_lsn(start), rows),
            )
        log.info("snapshot of %d entries emitted at %s", rows, format_lsn(start))
        return start

    def _flush_all(self) -> None:
        while self.producer.flush(1.0):
            if self.failure:
                raise RelayError(self.failure)
        if self.failure:
            raise RelayError(self.failure)
        self.tracker.advance()

    # -- streaming -------------------------------------------------------------------------
    def run(self) -> None:
        start = self._slot_lsn()
        if start is None:
            start = self.snapshot()
        self.tracker.confirmed = start
        self.stream(start)

    def stream(self, start: int) -> None:
        conn = self._replication_connection()
        pg = conn.pgconn
        pg.send_query(
            f"START_REPLICATION SLOT {self.slot} LOGICAL {format_lsn(start)} "
            f"(proto_version '1', publication_names '{PUBLICATION}')".encode()
        )
        result = pg.get_result()
        if result is None or result.status != pq.ExecStatus.COPY_BOTH:
            message = result.error_message.decode(errors="replace") if result else "no result"
            raise RelayError(f"START_REPLICATION failed: {message}")
        log.info("streaming slot %s from %s", self.slot, format_lsn(start))
        self.streaming = True
        current: PendingTx | None = None
        xid = 0
        order = 0  # changes of the open transaction so far
        last_commit: int | None = None  # commit LSN of the previous transaction
        last_status = 0.0
        last_sent = -1
        try:
            while not self.stop_event.is_set():
                self.looped_at = time.monotonic()
                if self.failure:
                    raise RelayError(self.failure)
                nbytes, buf = pg.get_copy_data(1)
                if nbytes == 0:
                    self.producer.poll(0)
                    if time.monotonic() - last_status >= self.status_interval_s:
                        last_sent = self._status(pg, force=False, last_sent=last_sent)
                        last_status = time.monotonic()
                    readable, _, _ = select.select([pg.socket], [], [], 0.01)
                    if readable:
                        pg.consume_input()
                    continue
                if nbytes == -1:
                    raise RelayError("the server ended replication")
                if nbytes < 0:
                    raise RelayError(
                        f"replication stream error: {pg.error_message.decode(errors='replace')}"
                    )
                message = bytes(buf)
                if message[:1] == b"w":
                    wal_start = struct.unpack_from(">Q", message, 1)[0]
                    decoded = parse(message[25:])
                    if isinstance(decoded, Begin):
                        xid = decoded.xid
                        order = 0
                        current = PendingTx(
                            end_lsn=decoded.final_lsn, commit_ts_us=decoded.commit_ts_us
                        )
                        self.tracker.open(current)
                    elif isinstance(decoded, Relation):
                        self.relations[decoded.relid] = decoded
                    elif isinstance(decoded, Insert) and current is not None:
                        relation = self.relations[decoded.relid]
                        if relation.qualified_name == ENTRIES:
                            columns = dict(
                                zip((c.name for c in relation.columns), decoded.values, strict=True)
                            )
                            order += 1
                            record = entry_record(
                                columns, op="c", lsn=wal_start, tx_id=xid,
                                commit_ts_ms=current.commit_ts_us // 1000, origin=self.origin,
                                position=TxPosition(current.end_lsn, last_commit, order),
                            )  # fmt: skip
                            self._produce(record, current)
                    elif isinstance(decoded, Commit) and current is not None:
                        last_commit = current.end_lsn  # Begin's final LSN: the commit's
                        current.end_lsn = decoded.end_lsn
                        current.sealed = True
                        current = None
                        self.producer.poll(0)
                elif message[:1] == b"k":
                    wal_end, _ts, reply = struct.unpack_from(">QqB", message, 1)
                    if current is None and not self.tracker.pending:
                        # idle: everything up to the server's position is handled
                        self.tracker.confirmed = max(self.tracker.confirmed, wal_end)
                    if reply:
                        last_sent = self._status(pg, force=True, last_sent=last_sent)
                        last_status = time.monotonic()
        finally:
            self.streaming = False
            self.producer.flush(10)
            conn.close()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while it streams the slot: not during the snapshot, not after a failure,
        not when the stream loop has not turned for HEALTHY_LOOP_S (stuck on Kafka)."""
        if self.failure:
            return False, {"reason": self.failure}
        if not self.streaming or self.looped_at is None:
            return False, {"reason": "not streaming yet (connecting or snapshotting)"}
        idle = time.monotonic() - self.looped_at
        if idle > HEALTHY_LOOP_S:
            return False, {"reason": f"stream loop stuck for {idle:.0f} s"}
        return True, {"slot": self.slot, "acked": self.acked}

    def _status(self, pg: pq.abc.PGconn, *, force: bool, last_sent: int) -> int:
        """Standby status update: confirm only what Kafka fully acknowledged, in order."""
        confirmed = self.tracker.advance()
        if confirmed != last_sent or force:
            now_us = int(time.time() * 1e6) - PG_EPOCH_US
            pg.put_copy_data(
                b"r" + struct.pack(">QQQqB", confirmed, confirmed, confirmed, now_us, 0)
            )
            pg.flush()
        oldest = self.tracker.oldest_unconfirmed_ts_us()
        CDC_SLOT_LAG_SECONDS.set(0 if oldest is None else max(0.0, time.time() - oldest / 1e6))
        return confirmed


def slot_lag_bytes(dsn: str, slot: str) -> int | None:
    """WAL the slot still holds back: current WAL position minus its confirmed LSN."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint"
            " FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        ).fetchone()
    lag = None if row is None else row[0]
    if lag is not None:
        CDC_SLOT_LAG_BYTES.set(lag)
    return lag


def drop_slot(dsn: str, slot: str, forget_state: bool = True, timeout: float = 10) -> bool:
    """Drop a replication slot and, with `forget_state`, the relay's resume point for it
    (`cdc.relay_state`); True when a slot was dropped. A slot left behind holds WAL on the
    server for ever, so every run that makes one ends here. A relay that was just stopped may
    keep the slot active for a moment: wait up to `timeout` for it to let go."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            ).fetchone()
            if row is None or not row[0] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        dropped = row is not None and not row[0]
        if dropped:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        if forget_state:
            conn.execute("DELETE FROM cdc.relay_state WHERE slot = %s", (slot,))
    return dropped
