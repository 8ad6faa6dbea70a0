"""The loop every agent runs: decode → rule → sink, in batches, with the failure policy in one
place.

* Undecodable or invalid input goes to the DLQ (wagerstream.deadletter).
* A sink that is down (Redis, Kafka) is retried with capped backoff: the agent stops consuming,
  so nothing is committed past the event that could not be written (back-pressure, not loss).
* Any other exception is a bug meeting a particular event: that event goes to the DLQ with the
  exception as its reason and the agent goes on, instead of crash-looping on it forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import redis
from faust.streams import _current_event
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from sinks.metrics import EVENTS_OUT, PROCESSING
from sinks.redis_models import VersionedWrite
from wagerstream.app import app, read_models, serde, settings
from wagerstream.deadletter import Decoder
from wagerstream.logs import log_context
from wagerstream.serde import DecodeError, LoadedSchema

log = logging.getLogger(__name__)
ToWrites = Callable[[LoadedSchema, dict[str, Any]], list[VersionedWrite]]
TRANSIENT = (redis.ConnectionError, redis.TimeoutError, ConnectionError, asyncio.TimeoutError)


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
    to_writes: ToWrites,
    max_: int = 1000,
    within: float = 0.05,
) -> None:
    """decode → rule → sink in batches: one Redis pipeline per batch instead of one round trip
    per event (the round trip was most of an event's cost).

    `take_events` acks a batch only after this loop body returned, so a crash replays the
    whole batch (the versioned writes make that harmless). Rules may update Faust tables:
    tables route a write to the changelog partition of the *current event*, which Faust sets
    per event in a plain stream but not in a batch, so we set it around each rule call.
    Only the newest write per key of a batch is sent.
    """
    decoder = Decoder(app, serde, settings.max_clock_skew_ms, agent=name)
    async for events in stream.take_events(max_, within):
        started = time.perf_counter()
        writes: dict[str, VersionedWrite] = {}
        for event in events:
            decoded = await decoder.decode(event)
            if decoded is None:
                continue
            schema, record = decoded
            token = _current_event.set(weakref.ref(event))
            try:
                with log_context(trace_id=record.get("trace_id"),
                                 tenant_id=record.get("tenant_id"),
                                 brand_id=record.get("brand_id")):  # fmt: skip
                    for write in to_writes(schema, record):
                        writes[write.key] = write  # versions only grow within a batch
            except Exception as exc:
                log.exception("%s: processing failed", name)
                await decoder.dead_letter(event, DecodeError("processing_error", repr(exc)))
            finally:
                _current_event.reset(token)
        if writes:
            await until_sink_accepts(name, read_models().write, list(writes.values()))
        for event in events:
            EVENTS_OUT.labels(name, event.message.topic).inc()
        PROCESSING.labels(name).observe((time.perf_counter() - started) / max(1, len(events)))
