"""The loop every agent runs: decode → rule → sink, in batches, with the failure policy in one
place.

* Undecodable or invalid input goes to the DLQ (topics.deadletter).
* A sink that is down (Redis, Kafka) is retried with capped backoff: the agent stops consuming,
  so nothing is committed past the event that could not be written (back-pressure, not loss).
* Any other exception is a bug meeting a particular event: that event goes to the DLQ with the
  exception as its reason and the agent goes on, instead of crash-looping on it forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import faust
import redis
from faust.streams import _current_event
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from agents.app import app, read_models, serde, settings
from agents.metrics import EVENTS_OUT, PROCESSING, SENT
from foundation.logs import log_context
from sinks.metrics import SINK_BATCH
from sinks.read_models import VersionedWrite
from topics.deadletter import Decoder
from topics.serde import DecodeError, LoadedSchema

log = logging.getLogger(__name__)
TRANSIENT = (redis.ConnectionError, redis.TimeoutError, ConnectionError, asyncio.TimeoutError)


@dataclass(frozen=True)
class Send:
    """A record for another topic (a signal, or a repartition to an internal topic)."""

    topic: str
    key: bytes
    value: bytes


@dataclass
class Outcome:
    writes: list[VersionedWrite] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)


class BatchState:
    """Table state of one batch: each (table, key) is read once and written back once.

    A per-event table write costs a JSON encode and a changelog record; a player with 50
    events in a batch needs one. Writing back happens with Faust's *current event* set to the
    last event that touched the key, so the store writes the partition's RocksDB and the
    changelog record goes to that event's partition (the partition this worker owns), and is
    committed with it.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[faust.Table, Any, faust.types.EventT]] = {}
        self.event: faust.types.EventT | None = None

    def get(self, table: faust.Table, key: str, factory: Callable[[], Any]) -> Any:
        found = self._entries.get((table.name, key))
        value = found[1] if found is not None else table.get(key)
        if value is None:
            value = factory()
        assert self.event is not None
        self._entries[(table.name, key)] = (table, value, self.event)
        return value

    def flush(self) -> None:
        for (_, key), (table, value, event) in self._entries.items():
            with _on_behalf_of(event):
                table[key] = value
        self._entries.clear()


@contextlib.contextmanager
def _on_behalf_of(event: faust.types.EventT) -> Iterator[None]:
    """Make `event` Faust's current event for a table write. Faust's RocksDB store picks the
    partition's database from the current event and has no public way to name it (upstream
    could take a partition argument); its context variable is the one Faust private this
    project uses, and only here."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class Progress:
    """How far this process has got per (topic, partition), for rules that must know whether
    the worker has read past a point on another topic (rapid in/out).

    `watermark`: the newest producer timestamp (ms) consumed: a record produced after X has
    been read, so everything produced before X on that partition has too. `handled`: the
    highest offset handled, not merely fetched (Faust's own read offset counts what reached
    the stream buffer, which can run thousands of records ahead of the handler while the
    worker is behind).
    """

    def __init__(self) -> None:
        self._watermarks: dict[tuple[str, int], float] = {}
        self._handled: dict[tuple[str, int], int] = {}

    def saw(self, topic: str, partition: int, offset: int, timestamp_ms: float) -> None:
        key = (topic, partition)
        if timestamp_ms > self._watermarks.get(key, 0.0):
            self._watermarks[key] = timestamp_ms
        if offset > self._handled.get(key, -1):
            self._handled[key] = offset

    def watermark(self, topic: str, partition: int) -> float:
        return self._watermarks.get((topic, partition), 0.0)

    def handled_offset(self, topic: str, partition: int) -> int:
        return self._handled.get((topic, partition), -1)


Handler = Callable[[BatchState, LoadedSchema, dict[str, Any]], Outcome | list[VersionedWrite]]


async def until_sink_accepts(name: str, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Call `fn` until no sink is down: capped exponential backoff, no give-up (back-pressure:
    the agent consumes nothing meanwhile, so nothing is committed past this event)."""

    def warn(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s: sink unavailable (%r), attempt %d", name, exc, state.attempt_number)

    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(TRANSIENT),
        wait=wait_exponential(multiplier=0.1, max=5.0),
        before_sleep=warn,
        reraise=True,
    ):
        with attempt:
            return await fn(*args)
    return None


async def run_batched_agent(
    name: str,
    stream: faust.StreamT,
    handler: Handler,
    progress: Progress | None = None,
    max_: int = settings.worker_batch_max,
    within: float = 0.05,
) -> None:
    """decode → rule → sink in batches: one Redis pipeline and one table write per key per
    batch instead of one round trip per event (the round trip was most of an event's cost).

    `take_events` acks a batch only after this loop body returned, so a crash replays the
    whole batch (versioned writes, deterministic signal ids and the rules' event-id memory make
    that harmless). Order of effects per batch: table state, then signals and repartitioned
    records, then read models — a read model never shows what the state could forget.
    Only the newest write per key of a batch is sent.
    """
    decoder = Decoder(app, serde, settings.max_clock_skew_ms, agent=name)
    topics: dict[str, faust.types.TopicT] = {}
    async for events in stream.take_events(max_, within):
        started = time.perf_counter()
        writes: dict[str, VersionedWrite] = {}
        sends: list[Send] = []
        state = BatchState()
        for event in events:
            message = event.message
            if progress is not None:
                progress.saw(
                    message.topic, message.partition, message.offset, message.timestamp * 1000
                )
            decoded = await decoder.decode(event)
            if decoded is None:
                continue
            schema, record = decoded
            state.event = event
            try:
                with log_context(trace_id=record.get("trace_id"),
                                 tenant_id=record.get("tenant_id"),
                                 brand_id=record.get("brand_id")):  # fmt: skip
                    outcome = handler(state, schema, record)
            except DecodeError as exc:  # a rule refused the event before changing state
                await decoder.dead_letter(event, exc)
                continue
            except Exception as exc:
                log.exception("%s: processing failed", name)
                await decoder.dead_letter(event, DecodeError("processing_error", repr(exc)))
                continue
            if isinstance(outcome, list):
                outcome = Outcome(writes=outcome)
            for write in outcome.writes:
                writes[write.key] = write  # versions only grow within a batch
            sends.extend(outcome.sends)
        # the newest write per key, computed while the batch's state is still current
        batch_writes = [write.resolved() for write in writes.values()]
        state.flush()
        for send in sends:
            topic = topics.get(send.topic)
            if topic is None:
                topic = topics[send.topic] = app.topic(send.topic)
            await topic.send(key=send.key, value=send.value)
            SENT.labels(name, send.topic).inc()
        if batch_writes:
            SINK_BATCH.labels("redis").observe(len(batch_writes))
            await until_sink_accepts(name, read_models().write, batch_writes)
        for event in events:
            EVENTS_OUT.labels(name, event.message.topic).inc()
        PROCESSING.labels(name).observe((time.perf_counter() - started) / max(1, len(events)))
