"""The ClickHouse sink: facts from Kafka into ClickHouse, offsets committed after the insert.

Not a Faust agent, on purpose: it needs exact control of commits (commit only what ClickHouse
acknowledged) and the embedded engine locks its data directory to one process, so it runs as
its own process with its own consumer group (`{WAGERSTREAM_APP_ID}-marts`). Against a ClickHouse
server
any number of these processes can share the group.

Each batch: decode → rows per fact table → one insert per table with an
`insert_deduplication_token` derived from the batch's offset ranges (a retried insert is a
no-op) → synchronous commit of the offsets. A crash between insert and commit redelivers the
batch; the redelivered rows carry the same sorting key and version and ReplacingMergeTree
keeps one, which the marts read through FINAL. While ClickHouse is down the insert is retried
with capped backoff and nothing is committed (back-pressure: the sink stops consuming).

The process also serves `/query` so that `wagerstream query` can reach the embedded engine
it holds, `/metrics` and `/health`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import defaultdict
from datetime import date, datetime
from http.server import ThreadingHTTPServer
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from foundation import http
from foundation.background import guarded
from foundation.kafka import client_config
from foundation.settings import Settings
from sinks.clickhouse.metrics import (
    MARTS_BATCH,
    MARTS_FRESHNESS,
    MARTS_LAG,
    MARTS_ROWS,
    MARTS_SKIPPED,
)
from sinks.clickhouse.rows import COLUMNS, MAPPERS, Row
from sinks.metrics import SINK_LATENCY
from topics.catalogue import FACT_TOPICS
from topics.deadletter import decode_checked
from topics.serde import AvroSerde, DecodeError

log = logging.getLogger(__name__)
HEALTHY_POLL_S = 30.0


COMMIT_RETRY_S = 120.0


def _retriable(exc: BaseException) -> bool:
    if not isinstance(exc, KafkaException) or not exc.args:
        return False
    error = exc.args[0]
    return bool(error.retriable()) or error.code() in (
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._WAIT_COORD,
    )


class InjectedFault(RuntimeError):
    """An insert failure injected through WAGERSTREAM_MARTS_FAULT_FILE, handled like a ClickHouse
    error."""


class MartsSink:
    def __init__(self, settings: Settings, client: Any, serde: AvroSerde) -> None:
        self.settings = settings
        self.client = client
        self.serde = serde
        self.lock = threading.Lock()  # the embedded engine: one caller at a time
        self.stopping = threading.Event()
        self.polled_at: float | None = None  # monotonic time of the loop's last poll
        self.consumer = Consumer(
            {
                **client_config(settings),
                "group.id": f"{settings.app_id}-marts",
                "enable.auto.commit": False,
                "auto.offset.reset": settings.worker_offset_reset,
                "partition.assignment.strategy": "cooperative-sticky",
                # a ClickHouse outage is waited out inside one batch: stay in the group
                "max.poll.interval.ms": 900_000,
                # and meanwhile prefetch at most this much (librdkafka's default is 64 MB)
                "queued.max.messages.kbytes": 16_384,
            }
        )

    # --- decode -------------------------------------------------------------------------
    def decode(self, msg: Message) -> tuple[str, Row] | None:
        topic = msg.topic()
        try:
            schema, record = decode_checked(
                self.serde, topic, msg.value(), msg.key(), self.settings.max_clock_skew_ms
            )
        except DecodeError as exc:
            # The worker reads the same bytes and dead-letters them with this reason.
            MARTS_SKIPPED.labels(topic, exc.code).inc()
            log.warning("skipped %s[%d]@%d: %s", topic, msg.partition(), msg.offset(), exc.reason)
            return None
        return MAPPERS[schema.stem](record, topic, msg.offset())

    # --- one batch ----------------------------------------------------------------------
    def process(self, messages: list[Message]) -> int:
        rows: dict[str, list[Row]] = defaultdict(list)
        ranges: dict[tuple[str, int], list[int]] = {}
        for msg in messages:
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", msg.error())
                continue
            key = (msg.topic(), msg.partition())
            first_last = ranges.setdefault(key, [msg.offset(), msg.offset()])
            first_last[1] = msg.offset()
            mapped = self.decode(msg)
            if mapped is not None:
                rows[mapped[0]].append(mapped[1])
        if not ranges:
            return 0
        batch_id = ",".join(f"{t}:{p}:{a}-{b}" for (t, p), (a, b) in sorted(ranges.items()))
        for table, table_rows in rows.items():
            token = hashlib.sha256(f"{table}|{batch_id}".encode()).hexdigest()
            self.insert(table, table_rows, token)
        inserted_at = time.time()
        for row in rows.get("ledger_entries", []):
            MARTS_FRESHNESS.observe(max(0.0, inserted_at - row[13].timestamp()))
        offsets = [TopicPartition(t, p, b + 1) for (t, p), (_, b) in ranges.items()]
        self.commit(offsets)
        return sum(len(r) for r in rows.values())

    def commit(self, offsets: list[TopicPartition]) -> None:
        """Commit after the inserts, riding out a broker restart or a coordinator move
        (retriable errors, capped backoff, 2 minutes). A commit that cannot succeed (the group
        rebalanced meanwhile, or the coordinator stayed away for those 2 minutes) is logged,
        not fatal: the batch is redelivered, to this sink or the partitions' new owner, and
        its rows replace themselves (ReplacingMergeTree, the same insert token); the next
        commit of a partition covers it anyway. A sink that died here would only add a
        restart to the outage (seen in a soak: NOT_COORDINATOR for over 2 minutes)."""
        try:
            for attempt in Retrying(
                retry=retry_if_exception(_retriable),
                wait=wait_exponential(multiplier=0.2, max=5.0),
                stop=stop_after_delay(COMMIT_RETRY_S),
                before_sleep=before_sleep_log(log, logging.WARNING),
                reraise=True,
            ):
                with attempt:
                    self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            retried = f" for {COMMIT_RETRY_S:.0f} s" if _retriable(exc) else ""
            log.warning("commit failed%s (%s): the batch will be redelivered", retried, exc)

    def insert(self, table: str, rows: list[Row], token: str) -> None:
        for attempt in Retrying(
            wait=wait_exponential(multiplier=0.2, max=5.0),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        ):
            with attempt:
                if self.stopping.is_set() and attempt.retry_state.attempt_number > 1:
                    raise SystemExit("stopping with an uncommitted batch (it will be redelivered)")
                started = time.perf_counter()
                fault = self.settings.marts_fault_file
                if fault is not None and fault.exists():
                    raise InjectedFault(f"{fault} exists: ClickHouse inserts fail (chaos)")
                with self.lock:
                    self.client.insert(
                        f"{self.settings.clickhouse_database}.{table}",
                        rows,
                        column_names=COLUMNS[table],
                        settings={"insert_deduplication_token": token},
                    )
                SINK_LATENCY.labels("clickhouse").observe(time.perf_counter() - started)
        MARTS_ROWS.labels(table).inc(len(rows))
        MARTS_BATCH.observe(len(rows))

    def run(self) -> None:
        self.consumer.subscribe(list(FACT_TOPICS))
        wait = self.settings.marts_batch_wait_ms / 1000
        last_lag = 0.0
        try:
            while not self.stopping.is_set():
                messages = self.consumer.consume(self.settings.marts_batch_max, timeout=wait)
                self.polled_at = time.monotonic()
                if messages:
                    self.process(messages)
                if time.monotonic() - last_lag > 5:
                    last_lag = time.monotonic()
                    with guarded("marts_lag_gauge", log):  # a gauge must never stop the sink
                        MARTS_LAG.set(self.lag())
        finally:
            self.consumer.close()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while the loop polls Kafka: not before its first poll, not while an insert
        keeps failing (the loop is stuck retrying it), not once stopping."""
        if self.polled_at is None:
            return False, {"reason": "not consuming yet"}
        idle = time.monotonic() - self.polled_at
        if self.stopping.is_set():
            return False, {"reason": "stopping"}
        if idle > HEALTHY_POLL_S:
            return False, {"reason": f"no poll for {idle:.0f} s (inserts failing?)"}
        return True, {"last_poll_s": round(idle, 1)}

    def lag(self) -> int:
        total = 0
        assigned = self.consumer.assignment()
        if not assigned:
            return 0
        for tp in self.consumer.position(assigned):
            _, high = self.consumer.get_watermark_offsets(tp, timeout=5, cached=True)
            if tp.offset >= 0 and high >= 0:
                total += max(0, high - tp.offset)
        return total

    # --- queries for `wagerstream query` -------------------------------------------------
    def query(self, sql: str) -> dict[str, Any]:
        with self.lock:
            result = self.client.query(sql)
        return {"columns": list(result.column_names), "rows": result.result_rows}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def serve(sink: MartsSink, host: str, port: int) -> ThreadingHTTPServer:
    """`/metrics`, `/health` (consuming, see `MartsSink.health`) and `POST /query`."""

    def query(body: bytes) -> tuple[int, Any]:
        try:
            return 200, sink.query(body.decode())
        except Exception as exc:  # a bad query is the caller's error, not the sink's
            return 400, {"error": f"SQL error: {sql_error(exc)}"}

    return http.serve(
        host, port, sink.health, {"/query": query}, name="marts-http", json_default=_json_default
    )


class QueryError(RuntimeError):
    """A query failed; the message says why and what to do."""


def sql_error(exc: Exception) -> str:
    """ClickHouse's own message, first line only (`Code: 62. DB::Exception: Syntax error: …`),
    without the client's wrapping and the engine's stack trace."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first.split(" (version ")[0]


def run_query(settings: Settings, sql: str) -> tuple[list[str], list[list[Any]]]:
    """Ask the running sink first (it holds the embedded engine); open ClickHouse directly
    when no sink answers or when WAGERSTREAM_CLICKHOUSE_URL names a server."""
    import httpx

    from sinks.clickhouse.connect import connect

    if settings.clickhouse.startswith("chdb://"):
        try:
            reply = httpx.post(
                f"http://127.0.0.1:{settings.marts_port}/query", content=sql.encode(), timeout=120
            )
        except httpx.HTTPError:
            reply = None
        if reply is not None and reply.status_code == 200:
            body = reply.json()
            return body["columns"], body["rows"]
        if reply is not None and reply.status_code == 400:
            raise QueryError(reply.json()["error"])
    try:
        client = connect(settings, create_database=False)
    except Exception as exc:
        if settings.clickhouse.startswith("chdb://"):
            raise QueryError(
                f"cannot open the embedded ClickHouse at {settings.clickhouse} ({exc}). If a "
                "`wagerstream marts sink` (or the demo) is running it holds the engine and "
                "answers queries itself: set WAGERSTREAM_MARTS_PORT to its port (no sink "
                f"answered on {settings.marts_port}); otherwise stop the process that holds it"
            ) from None
        raise QueryError(f"cannot reach ClickHouse at {settings.clickhouse}: {exc}") from None
    try:
        result = client.query(sql)
    except Exception as exc:  # the engine refused the SQL: say so, in its own words
        raise QueryError(f"SQL error: {sql_error(exc)}") from None
    return list(result.column_names), [list(r) for r in result.result_rows]
