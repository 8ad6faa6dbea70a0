"""The Faust application every worker runs: one consumer group, RocksDB tables, /metrics.

Processing is at-least-once (faust-streaming's exactly_once has open bugs): a crash replays the
events after the last committed offset, and every table update and sink write is idempotent, so
a replay changes nothing. Keys and values are raw bytes here; decoding happens in the agents so
that an undecodable message reaches the dead-letter topic instead of killing the stream.
"""

from __future__ import annotations

import functools
import logging
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust
import rocksdict
from faust.sensors import Monitor
from faust.stores.rocksdb import Store as RocksDBStore
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP, ConsumerT, EventT, Message, RecordMetadata, StreamT
from prometheus_client import generate_latest

from agents.rules import config as risk_config
from foundation import collector
from foundation.background import guarded
from foundation.kafka import faust_credentials
from foundation.logs import logging_config
from foundation.settings import get_settings
from sinks.redis_models import ReadModelWriter
from topics.serde import AvroSerde

log = logging.getLogger(__name__)
settings = get_settings()
settings.state_path.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level


class SeekSafeRecovery(Recovery):
    """Faust's table recovery, with changelog offsets that are unknown when it seeks read from
    the start. A standby partition added by a rebalance that lands between Faust building its
    offsets and seeking to them has no offset yet (None); Faust maps -1 to 0 but passes None
    on, aiokafka raises "Offset must be a positive integer", and the worker dies (the chaos
    soak hit it when a worker killed during recovery came back while the group moved).
    Reading such a partition from its start is what -1 means. Belongs upstream."""

    async def _seek_offsets(
        self, consumer: ConsumerT, tps: set[TP], offsets: Counter[TP], title: str
    ) -> None:
        unknown = known_offsets(tps, offsets)
        if unknown:
            log.warning("%s recovery: no offset yet for %s; read from the start", title, unknown)
        await super()._seek_offsets(consumer, tps, offsets, title)


def known_offsets(tps: set[TP], offsets: Counter[TP]) -> list[TP]:
    """Set every unknown (None) or impossible offset of `tps` to -1, "from the start" in
    Faust's recovery; returns the partitions it changed."""
    unknown = [tp for tp in tps if offsets[tp] is None or offsets[tp] < -1]
    for tp in unknown:
        offsets[tp] = -1
    return unknown


class RecoveringTables(TableManager):
    """Faust's TableManager (its `TableManager` setting) with `SeekSafeRecovery`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekSafeRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


class DurableTable(faust.Table):
    """Faust's Table (its `Table` setting) written back in bulk, with changelog sends that can
    be awaited.

    `write_back` is Kafka Streams' and Quix Streams' checkpoint write: per flush, one RocksDB
    write batch per partition and one changelog record per changed key, each value encoded
    once for both. Faust's own `table[key] = value` encodes every value twice, sends it
    through its producer buffer (a task, a pending message and three callbacks per record)
    and writes the partition's persisted offset to RocksDB per record; and its producer flush
    before a commit gives up on that buffer after 0.1 s without a record sent (a busy
    machine), so offsets could be committed ahead of the state that covers them. The runner
    awaits the returned futures, then records each partition's persisted offset once
    (`persisted`) and only then acks the events they cover. Reads and recovery stay Faust's:
    the changelog holds exactly the bytes the store holds, as Faust's recovery expects."""

    async def write_back(
        self, entries: list[tuple[str, Any, EventT]]
    ) -> list[Awaitable[RecordMetadata]]:
        """Write (key, value, event whose partition it belongs to) entries; returns each
        changelog record's future, in order."""
        store = cast(RocksDBStore, self.data)
        encoded = []
        batches: dict[int, rocksdict.WriteBatch] = {}
        for key, value, event in entries:
            partition = event.message.partition
            key_bytes, value_bytes = store._encode_key(key), store._encode_value(value)
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = rocksdict.WriteBatch(raw_mode=True)
            batch.put(key_bytes, value_bytes)
            store._key_index[key_bytes] = partition
            encoded.append((key_bytes, value_bytes, partition))
        for partition, batch in batches.items():
            store._db_for_partition(partition).write(batch)
        topic = self.changelog_topic.get_topic_name()
        send = self.app.producer.send
        return [await send(topic, k, v, partition, None, None) for k, v, partition in encoded]

    def persisted(self, partition: int, offset: int) -> None:
        """The changelog holds this partition's state up to `offset` (recovery starts after)."""
        tp = TP(self.changelog_topic.get_topic_name(), partition)
        cast(RocksDBStore, self.data).set_persisted_offset(tp, offset)


class FleetWorker(faust.Worker):
    """Faust's Worker (its `Worker` setting, so `faust -A agents.app worker` uses it too)
    without the terminal spinner: whenever the log level is WARNING or above the spinner sets
    the root logger to DEBUG, so every library built a debug record per message sent (4 % of
    a busy worker's CPU). A worker in a fleet has no terminal to spin on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None


PRODUCER_BUFFER_BATCHES = 4


def agent_modules() -> list[str]:
    """What Faust's autodiscovery imports: the real agents, or the benchmark's no-op one."""
    return ["agents.noop"] if settings.worker_agents == "noop" else ["agents.players"]


class QuietMonitor(Monitor):
    """Faust's Monitor without its per-message and per-event bookkeeping (a dict update, an
    EventState and a clock read per event, for Faust's own /stats page). Commit, rebalance,
    send and table sensors stay as they are."""

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        return None

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: StreamT, event: EventT
    ) -> dict | None:
        return None

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: StreamT, event: EventT, state: dict | None = None
    ) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        return None


app = faust.App(
    settings.app_id,
    # Faust reads WEB_PORT, BROKER_* and the like from the environment over these arguments:
    # a Kubernetes Service called web would set WEB_PORT=tcp://… and crash the worker, and
    # foundation.settings is the one place configuration comes from.
    env={},
    # aiokafka with a fetch loop that cannot skip records over a rebalance (agents/transport.py)
    broker=[f"wagerstream://{server}" for server in settings.kafka.split(",")],
    broker_credentials=faust_credentials(settings),
    store="rocksdb://",
    datadir=str(settings.state_path),
    processing_guarantee="at_least_once",
    key_serializer="raw",
    value_serializer="raw",
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=settings.topic_replication,
    consumer_auto_offset_reset=settings.worker_offset_reset,
    web_port=settings.worker_web_port,
    web_bind=settings.worker_web_host,
    web_host=settings.worker_web_host,
    logging_config=logging_config(settings.log_level),
    # Faust's own CLI (`faust -A agents.app worker`) and `wagerstream worker` find the same
    # agents, tables and timers.
    autodiscover=agent_modules,
    origin="agents.app",
    Worker=FleetWorker,
    worker_redirect_stdouts=False,
    TableManager=RecoveringTables,
    Table=DurableTable,
    Monitor=QuietMonitor if settings.worker_monitor == "quiet" else Monitor,
    # A world-cup final is a burst: keep more in flight per partition than the default.
    stream_buffer_maxsize=8192,
    producer_linger_ms=5,
    producer_max_batch_size=settings.worker_producer_batch_bytes,
    broker_commit_every=5000,
    consumer_max_fetch_size=settings.worker_fetch_max_bytes,
    broker_max_poll_records=settings.worker_max_poll_records,
    broker_commit_interval=settings.worker_commit_interval_s,
    # A worker killed with -9 never leaves the group: its partitions move after this timeout.
    broker_session_timeout=settings.session_timeout_s,
    consumer_metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
    consumer_group_instance_id=settings.worker_instance_id,
    broker_heartbeat_interval=max(1.0, settings.session_timeout_s / 3),
)


@app.on_worker_init.connect
def _create_changelogs(app: faust.App, **kwargs: object) -> None:
    """Before the worker starts: Faust creates changelog topics lazily, and on a fresh cluster
    an agent can read the metadata before they exist (topics.admin.create_changelogs)."""
    from topics.admin import create_changelogs

    names = [t.changelog_topic.get_topic_name() for t in app.tables.values()]
    create_changelogs(settings.kafka, names, settings.topic_partitions, settings.topic_replication)
    # Faust's producer buffer warns ("producer buffer full") and flushes above 100 records, a
    # tenth of one batch's write-back (one changelog record per changed key of each table):
    # a thousand warnings in five minutes of normal traffic. The runner awaits those records
    # itself (DurableTable), so the buffer may hold a few batches' worth.
    per_batch = len(app.tables) * settings.worker_batch_max
    app.producer.buffer.max_messages = PRODUCER_BUFFER_BATCHES * per_batch
    from foundation import tracing

    tracing.setup("wagerstream-worker")  # on only with OTEL_EXPORTER_OTLP_ENDPOINT


@app.task
async def _collector_policy() -> None:
    """Once the worker has started (its logging is set up by then): the garbage collector's
    policy for a long-running worker (foundation.collector), and its pauses on /metrics."""
    with guarded("garbage collector policy", log):
        collector.watch_pauses()
        frozen = collector.tune(settings.worker_gc_young, settings.worker_gc_freeze)
        log.info("garbage collector: young generation %d objects, %d objects frozen",
                 settings.worker_gc_young, frozen,
                 extra={"gc_young": settings.worker_gc_young, "gc_frozen": frozen})  # fmt: skip


@app.page("/metrics")
async def metrics(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
    return web.bytes(generate_latest(), content_type="text/plain; version=0.0.4")


if settings.worker_tracemalloc_frames:
    tracemalloc.start(settings.worker_tracemalloc_frames)


@app.page("/memory")
async def memory(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
    """The 30 largest allocation sites still alive, when WAGERSTREAM_WORKER_TRACEMALLOC_FRAMES is
    set: a
    soak's climbing worker is asked where its memory is, not guessed at."""
    if not tracemalloc.is_tracing():
        return web.bytes(
            b"tracing is off: start the worker with WAGERSTREAM_WORKER_TRACEMALLOC_FRAMES=10\n",
            content_type="text/plain",
            status=404,
        )
    stats = tracemalloc.take_snapshot().statistics("traceback")[:30]
    lines = []
    for stat in stats:
        lines.append(f"{stat.size / 1024 / 1024:8.1f} MB {stat.count:9d} blocks")
        lines.extend(f"    {line}" for line in stat.traceback.format()[-6:])
    return web.bytes("\n".join(lines).encode() + b"\n", content_type="text/plain")


_ready = {"rebalanced": False}


@app.on_rebalance_complete.connect
async def _on_rebalance_complete(sender: faust.App, **kwargs: object) -> None:
    _ready["rebalanced"] = True


@app.page("/health")
async def health(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
    """200 once the worker joined the group, recovered its tables and is not rebalancing."""
    ready = _ready["rebalanced"] and not app.rebalancing
    return web.json(
        {"status": "ok" if ready else "starting", "assigned": len(app.assignor.assigned_actives())},
        status=200 if ready else 503,
    )


serde = AvroSerde(registry_url=settings.schema_registry_url)
STARTED_MS = int(time.time() * 1000)


def state_version(seq: int) -> int:
    """Version of a read-model write derived from table state: (generation, start, seq).

    A per-player sequence alone is not enough: after a crash the table comes back from its
    changelog at an older sequence and replays events from the two input topics in a different
    interleaving, so the same sequence number can stand for different content. Prefixing the
    consumer-group generation (bumped when partitions move) and this process's start time
    (bumped when a worker restarts, static membership included) makes the owner's writes
    after a restart or rebalance win over anything a previous owner wrote.
    """
    return (app.consumer_generation_id * 10**13 + STARTED_MS) * 10**12 + seq


_read_models: ReadModelWriter | None = None


def read_models() -> ReadModelWriter:
    """The Redis writer, created on first use inside the worker's event loop."""
    global _read_models
    if _read_models is None:
        _read_models = ReadModelWriter(settings.redis, settings.redis_prefix)
    return _read_models


def input_topic(*names: str) -> faust.types.TopicT:
    """A Faust topic over contract topics; raw bytes, decoded by the agent's Decoder."""
    return app.topic(*names, partitions=settings.topic_partitions)


RISK = risk_config.load(settings.risk_config) if settings.risk_config else risk_config.default()


def guarded_timer(
    interval: float,
) -> Callable[[Callable[[], Awaitable[None]]], Callable[[], Awaitable[None]]]:
    """`@app.timer` whose failures are logged and counted, never fatal: Faust treats an
    exception in a timer as an app crash, and a gauge or a wake-up scan must not take the
    worker down (only the runner's policy decides that)."""

    def decorate(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        @functools.wraps(fn)
        async def timer() -> None:
            with guarded(fn.__name__, log, interval):
                await fn()

        return app.timer(interval=interval)(timer)

    return decorate
