"""The Faust application every worker runs: one consumer group, RocksDB tables, /metrics.

Processing is at-least-once (faust-streaming's exactly_once has open bugs): a crash replays the
events after the last committed offset, and every table update and sink write is idempotent, so
a replay changes nothing. Keys and values are raw bytes here; decoding happens in the agents so
that an undecodable message reaches the dead-letter topic instead of killing the stream.
"""

from __future__ import annotations

import faust
from prometheus_client import generate_latest

from sinks.redis_models import ReadModelWriter
from wagerstream.logs import logging_config
from wagerstream.serde import AvroSerde
from wagerstream.settings import get_settings

settings = get_settings()

app = faust.App(
    settings.app_id,
    broker=[f"kafka://{server}" for server in settings.kafka.split(",")],
    store="rocksdb://",
    datadir=str(settings.state_path),
    processing_guarantee="at_least_once",
    key_serializer="raw",
    value_serializer="raw",
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=settings.topic_replication,
    consumer_auto_offset_reset="earliest",
    web_port=settings.worker_web_port,
    web_bind=settings.worker_web_host,
    web_host=settings.worker_web_host,
    logging_config=logging_config(settings.log_level),
    autodiscover=False,
    # A world-cup final is a burst: keep more in flight per partition than the default.
    stream_buffer_maxsize=8192,
    producer_linger_ms=5,
    broker_commit_every=5000,
)


@app.page("/metrics")
async def metrics(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
    return web.bytes(generate_latest(), content_type="text/plain; version=0.0.4")


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
