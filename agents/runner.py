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
import collections
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, cast

import faust
import redis
from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from agents.app import DurableTable, app, read_models, serde, settings
from agents.metrics import (
    BATCH_EVENTS,
    EVENTS_OUT,
    PROCESSING,
    PRODUCE_TO_MODEL,
    SENT,
    STATE_FLUSH_KEYS,
    STATE_GIVEN_UP,
    STATE_UNFLUSHED,
)
from foundation import tracing
from foundation.background import guarded
from foundation.logs import log_context
from sinks.metrics import SINK_BATCH
from sinks.read_models import VersionedWrite, newest
from topics.deadletter import Decoder
from topics.serde import DecodeError, LoadedSchema

log = logging.getLogger(__name__)
TRANSIENT = (redis.ConnectionError, redis.TimeoutError, ConnectionError, asyncio.TimeoutError)


DELIVERY_DEADLINE_S = 30.0  # one wait for the broker's acknowledgements, then send again
MAX_CONFIRMING = 8  # flushes whose changelog records may be unacknowledged at once
LEASE_POLL_S = 0.05  # how often a worker whose lease lapsed looks again


class Undelivered(Exception):
    """Some records were not acknowledged by the broker."""


@dataclass(frozen=True)
class Send:
    """A record for another topic (a signal, or a repartition to an internal topic)."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] | None = None  # the trace it continues (traceparent)


@dataclass
class Outcome:
    writes: list[VersionedWrite] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class Written:
    """One key written back, with the future of its changelog record."""

    table: faust.Table
    key: str
    value: Any
    event: faust.types.EventT
    fut: Any
    generation: int | None = None  # the consumer generation it was written in


class BatchState:
    """Table state since the last flush, across batches: each (table, key) is read once, kept
    in memory while it changes, and written back once per flush (Kafka Streams' record cache,
    Quix Streams' checkpoint). A player with 50 events in a flush interval costs one RocksDB
    read, one JSON encode, one put and one changelog record.

    A key is written back to the partition of the last event that touched it (a partition
    this worker owns), in one bulk write per table (`DurableTable.write_back`). After a flush
    the values stay cached,
    unchanged, up to `clean_max` keys, and the cache is dropped when the group's generation
    changes (a partition may have come back with state another worker wrote meanwhile).
    """

    def __init__(self, clean_max: int = 0) -> None:
        self._dirty: dict[tuple[str, str], tuple[faust.Table, Any, faust.types.EventT]] = {}
        self._written: list[Written] = []  # since the last `take_written`
        self._latest: dict[tuple[str, str], Written] = {}  # newest write per key, unconfirmed
        self._clean: dict[tuple[str, str], Any] = {}
        self._clean_max = clean_max
        self._generation: int | None = None
        self.event: faust.types.EventT | None = None
        # what handlers keep for the rest of one batch (read-model writes they hand out again
        # for the next event of the same key): cleared when a batch starts
        self.scratch: dict[Any, Any] = {}

    def once_per_batch(self, slot: Any, owner: Any, build: Callable[..., Any], *args: Any) -> Any:
        """What `build(*args)` made for `slot` earlier in this batch, while it was made for this
        very `owner` (the state it derives from), else what it makes now."""
        found = self.scratch.get(slot)
        if found is None or found[0] is not owner:
            found = self.scratch[slot] = (owner, build(*args))
        return found[1]

    def get(self, table: faust.Table, key: str, factory: Callable[[], Any]) -> Any:
        slot = (table.name, key)
        value = self.peek(table, key)
        self._clean.pop(slot, None)
        if value is None:
            value = factory()
        assert self.event is not None
        self._dirty[slot] = (table, value, self.event)
        return value

    def peek(self, table: faust.Table, key: str) -> Any:
        """The key's value as `get` would see it, or None, without marking it changed: for a
        look that decides whether an event needs the state at all. A value read from the table
        is kept as a clean one while the cache has room, so the `get` or the next look that
        follows decodes it once."""
        slot = (table.name, key)
        found = self._dirty.get(slot)
        if found is not None:
            return found[1]
        value = self._clean.get(slot)
        if value is None:
            value = table.get(key)
            if value is not None and len(self._clean) < self._clean_max:
                self._clean[slot] = value
        return value

    def changes(self) -> Iterator[tuple[str, str, Any]]:
        """(table name, key, value) of what the next flush writes."""
        for (name, key), (_, value, _) in self._dirty.items():
            yield name, key, value

    def changed_value(self, table_name: str, key: str) -> Any:
        """The value the next flush writes for `key`, or None if it is unchanged."""
        found = self._dirty.get((table_name, key))
        return None if found is None else found[1]

    @property
    def changed(self) -> int:
        return len(self._dirty)

    def discard(self) -> None:
        """Forget every change not written back, and every cached value: this worker may no
        longer own the partitions they belong to (`agents.lease`)."""
        self._dirty.clear()
        self._clean.clear()

    def check_generation(self, generation: int) -> None:
        """Forget cached clean values once the group rebalanced (dirty ones are flushed by
        then: the rebalance waits until every handled event is acked)."""
        if generation != self._generation:
            self._clean.clear()
            self._generation = generation

    async def flush(self) -> int:
        """Write every changed key back, one bulk write per table; returns how many."""
        written = len(self._dirty)
        per_table: dict[str, tuple[faust.Table, list[tuple[str, Any, faust.types.EventT]]]] = {}
        for (name, key), (table, value, event) in self._dirty.items():
            per_table.setdefault(name, (table, []))[1].append((key, value, event))
            if self._clean_max:
                self._clean[(name, key)] = value
        self._dirty.clear()
        excess = len(self._clean) - self._clean_max
        if excess > 0:  # the oldest first: dicts keep insertion order
            for slot in list(itertools.islice(self._clean, excess)):
                del self._clean[slot]
        for table, entries in per_table.values():
            await self._put(table, entries)
        return written

    async def _put(
        self, table: faust.Table, entries: list[tuple[str, Any, faust.types.EventT]]
    ) -> None:
        futures = await cast(DurableTable, table).write_back(entries)
        for (key, value, event), fut in zip(entries, futures, strict=True):
            written = Written(table, key, value, event, fut, self._generation)
            self._written.append(written)
            self._latest[(table.name, key)] = written

    def take_written(self) -> list[Written]:
        """The writes since the last call, each with its changelog record's future."""
        taken, self._written = self._written, []
        return taken

    async def confirm(
        self,
        name: str,
        writes: list[Written],
        lock: asyncio.Lock,
        pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
        owns: Callable[[], bool] = lambda: True,
        generation: Callable[[], int | None] = lambda: None,
    ) -> None:
        """Return once the changelog has acknowledged every write of `writes` (only then may
        the events they cover be acked: `DurableTable` says why Faust's own flush before a
        commit is not enough). A record the producer gave up on is written again, under the
        batch lock, unless a newer write of the same key is on its way: that one covers it,
        and only while this worker `owns` the generation it was written in (`agents.lease`);
        one from an ended generation is given up (its events' acks no longer count, and the
        partition's owner replays them). Waiting is unbounded (a broker that is down holds
        the acks back, never drops them) with a warning per `DELIVERY_DEADLINE_S`."""
        waiting = list(writes)
        attempt = 0
        persisted: dict[tuple[str, int], tuple[faust.Table, int]] = {}
        while waiting:
            results = await settle([w.fut for w in waiting], DELIVERY_DEADLINE_S)
            still: list[Written] = []
            for written, error in zip(waiting, results, strict=True):
                slot = (written.table.name, written.key)
                if error is None:
                    if self._latest.get(slot) is written:
                        del self._latest[slot]
                    meta = cast(asyncio.Future, written.fut).result()
                    at = (written.table.name, meta.partition)
                    if at not in persisted or persisted[at][1] < meta.offset:
                        persisted[at] = (written.table, meta.offset)
                    continue
                if isinstance(error, TimeoutError):
                    still.append(written)  # in flight: the producer is still retrying
                    continue
                newer = self._latest.get(slot)
                if newer is not None and newer is not written:
                    still.append(newer)
                    continue
                if written.generation != generation():
                    if self._latest.get(slot) is written:
                        del self._latest[slot]
                    continue
                if not owns():
                    still.append(written)  # the lease may be renewed, or the rebalance ends it
                    continue
                async with lock:
                    await self._put(written.table, [(written.key, written.value, written.event)])
                    self._written.pop()  # confirmed here, not by the next flush
                still.append(self._latest[slot])
            if still:
                attempt += 1
                log.warning("%s: %d changelog records not acknowledged yet (attempt %d)",
                            name, len(still), attempt)  # fmt: skip
                if attempt > 1:
                    await pause(min(5.0, 0.1 * 2 ** (attempt - 2)))
            waiting = still
        # recovery reads each partition's changelog from after its persisted offset
        for (_, partition), (table, offset) in persisted.items():
            cast(DurableTable, table).persisted(partition, offset)


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


async def until_sink_accepts(
    name: str,
    fn: Callable[..., Awaitable[Any]],
    *args: Any,
    retry_on: tuple[type[BaseException], ...] = TRANSIENT,
    pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Any:
    """Call `fn` until no sink is down (Redis, or the broker for sends: `retry_on`): capped
    exponential backoff, no give-up (back-pressure: the agent consumes nothing meanwhile, so
    nothing is committed past this event)."""

    def warn(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s: sink unavailable (%r), attempt %d", name, exc, state.attempt_number)

    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(retry_on),
        wait=wait_exponential(multiplier=0.1, max=5.0),
        before_sleep=warn,
        sleep=pause,
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
    within: float = settings.worker_batch_wait_s,
    flush_every: float = settings.worker_state_flush_s,
    behind_max: int = settings.worker_batch_max_behind,
    behind_wait: float = settings.worker_batch_wait_behind_s,
) -> None:
    """decode → rule → sink in batches: one Redis pipeline per batch, one table write per
    changed key per flush instead of one round trip per event.

    Per batch: signals and repartitioned records are sent and acknowledged by the broker,
    then (when due) the state is written, then read models. Table state
    stays in memory (`BatchState`) and is written back every `flush_every` seconds, after
    which the events it covers are acked; Faust flushes its producer (the changelog records)
    before it commits acked offsets. So a crash replays exactly the events whose state was not
    written: the state it finds matches the committed offsets or is ahead of them, and the
    rules' event-id memory, deterministic signal ids and versioned read models make the
    replay harmless. A background flush covers quiet periods and rebalances (Faust waits for
    every handled event to be acked before it gives partitions away).

    Batches grow while the worker is behind (`keep_collecting`): up to `behind_max` events or
    `behind_wait` seconds while a full batch waits on the partitions behind them, so a
    backlog is handled in large batches (fewer read-model writes per key, fewer per-batch
    round trips: 1.38x in the drain benchmark) and a worker keeping up still handles each
    batch within `within`. Events collected that way are handled by a watchdog when no
    further batch comes (a rebalance clears the buffers and waits for every taken event).
    """
    decoder = Decoder(app, serde, settings.max_clock_skew_ms, agent=name)
    topics: dict[str, faust.types.TopicT] = {}
    state = BatchState(settings.worker_state_cache_keys)
    handled: list[faust.types.EventT] = []  # rules applied, state not written back yet
    # written back, acked once the changelog has every record: (events, their writes), oldest first
    confirming: collections.deque[tuple[list[faust.types.EventT], list[Written]]] = (
        collections.deque()
    )
    queued = asyncio.Event()  # something to confirm
    room = asyncio.Event()  # fewer than MAX_CONFIRMING flushes wait for their changelog
    room.set()
    lock = asyncio.Lock()  # one batch or one flush at a time
    last_flush = time.monotonic()
    counted: dict[str, Any] = {}
    delay = PRODUCE_TO_MODEL.labels(name)
    pending: list[faust.types.EventT] = []  # taken from the stream, not handled yet
    pending_since = 0.0

    def unacked() -> int:
        return len(handled) + sum(len(events) for events, _ in confirming)

    def owns() -> bool:
        """Whether this worker's membership lease holds (`agents.lease`): only then may it
        handle events or write state back (a consumer without one, in tests, always may)."""
        consumer_owns = getattr(app.consumer, "owns", None)
        return consumer_owns is None or bool(consumer_owns())

    def generation() -> int:
        return app.consumer_generation_id

    async def write_state() -> list[Written] | None:
        """Write the changed state back; None, writing nothing, when the lease has lapsed: a
        worker dropped from the group must not write state over its successor's."""
        nonlocal last_flush
        if not owns():
            return None
        last_flush = time.monotonic()
        if state.changed:
            STATE_FLUSH_KEYS.labels(name).observe(await state.flush())
        return state.take_written()

    def give_up() -> None:
        """Drop every taken event and every change not written back, unacked: this worker
        may have been dropped from the group (its lease lapsed) and a rebalance is revoking
        its partitions. Their next owner replays the events from the committed offsets."""
        nonlocal pending
        dropped = pending + handled
        pending = []
        handled.clear()
        state.discard()
        forget = getattr(app.consumer, "forget", None)
        if forget is not None:
            forget(event.message for event in dropped)
        if dropped:
            STATE_GIVEN_UP.labels(name).inc(len(dropped))
            log.warning(
                "%s: membership lease lapsed; gave up %d events and their state unwritten "
                "(the partitions' next owner replays them)", name, len(dropped),
            )  # fmt: skip
        STATE_UNFLUSHED.labels(name).set(unacked())

    async def until_owner() -> bool:
        """Wait while the lease has lapsed (a broker that is away, or a worker just woken from
        a freeze until its next heartbeat is answered); False once a rebalance is revoking
        the partitions meanwhile, after giving everything up."""
        waited, warn_at = 0.0, 1.0
        while not owns():
            if not app.flow_control.is_active():
                async with lock:
                    give_up()
                return False
            await asyncio.sleep(LEASE_POLL_S)
            waited += LEASE_POLL_S
            if waited >= warn_at:
                log.warning("%s: membership lease lapsed %.1f s ago; waiting for a heartbeat "
                            "or a rebalance", name, waited)  # fmt: skip
                warn_at *= 2
        return True

    async def before_revoke() -> None:
        """A rebalance (or a stop) waits for every taken event to be acked: as the owner,
        handle and write back everything now instead of at the next flush; otherwise give
        it all up."""
        nonlocal pending
        async with lock:
            if not owns():
                give_up()
                return
            events, pending = pending, []
            if events:
                await handle(events)
            if handled:
                written = await write_state()
                if written is None:
                    give_up()
                else:
                    ack_once_durable(written)

    def ack_once_durable(writes: list[Written]) -> None:
        """Queue the handled events for acking once `writes` are on the changelog."""
        confirming.append((list(handled), writes))
        handled.clear()
        queued.set()
        if len(confirming) >= MAX_CONFIRMING:
            room.clear()

    async def ack_when_durable() -> None:
        """Ack each flush's events, in order, once its changelog records are acknowledged:
        the batches go on meanwhile (the wait is one producer round trip per partition, too
        long to spend in every batch)."""
        while True:
            await queued.wait()
            done = False
            with guarded(f"{name}: acks", log, 1.0):
                while confirming:
                    events, writes = confirming[0]
                    await state.confirm(name, writes, lock, owns=owns, generation=generation)
                    for event in events:
                        await stream.ack(event)
                    confirming.popleft()
                    if len(confirming) < MAX_CONFIRMING:
                        room.set()
                    STATE_UNFLUSHED.labels(name).set(unacked())
                queued.clear()
                done = True
            if not done:
                await asyncio.sleep(1.0)

    async def flush_when_quiet() -> None:
        while True:
            await asyncio.sleep(max(0.1, flush_every))
            with guarded(f"{name}: state flush", log, flush_every):
                async with lock:
                    if handled and time.monotonic() - last_flush >= flush_every:
                        written = await write_state()
                        if written is not None:
                            ack_once_durable(written)

    def behind_by(events: list[faust.types.EventT]) -> int:
        """Records after these events on their partitions, by the consumer's high-water marks
        (unknown until a partition's first fetch after a rebalance: not counted)."""
        newest: dict[Any, int] = {}
        for event in events:
            newest[event.message.tp] = event.message.offset
        total = 0
        for tp, offset in newest.items():
            try:
                high = app.consumer.highwater(tp)
            except Exception:  # not assigned here any more
                continue
            if high is not None:
                total += max(0, high - offset - 1)
        return total

    async def handle_pending() -> None:
        """Handle every event taken so far, in order (the lock serialises the batch loop and
        the watchdog; whoever gets it first takes them all)."""
        nonlocal pending
        await room.wait()  # back-pressure while the changelog is behind
        if not await until_owner():
            return
        async with lock:
            events, pending = pending, []
            if events:
                await handle(events)

    async def handle_stale() -> None:
        """Handle collected events no further batch came for (the flow was suspended)."""
        while True:
            await asyncio.sleep(max(0.01, within))
            if pending and (
                time.monotonic() - pending_since >= behind_wait or not app.flow_control.is_active()
            ):
                with guarded(f"{name}: late batch", log, behind_wait):
                    await handle_pending()

    async def handle(events: list[faust.types.EventT]) -> None:
        started = time.perf_counter()
        state.check_generation(app.consumer_generation_id)
        links: list[tracing.Link] = []
        writes, sends = await _rule_batch(name, events, state, decoder, handler, progress, links)
        handled.extend(events)
        # outputs on the broker, then the state that remembers them, then read models;
        # acks once all three are done (see `send_durably` for why this order)
        due = time.monotonic() - last_flush >= flush_every
        with tracing.maybe_span(f"{name} batch", links=links,
                                attributes={"events": len(events)}):  # fmt: skip
            with tracing.maybe_span("kafka send", attributes={"records": len(sends)}):
                await send_durably(name, sends, topics)
            with tracing.maybe_span("state flush", attributes={"due": due}):
                written = await write_state() if due else None
            with tracing.maybe_span("redis write", attributes={"keys": len(writes)}):
                await _write_models(name, writes)
        if written is not None:
            ack_once_durable(written)
        written_at = time.time()
        for event in events:
            topic = event.message.topic
            counter = counted.get(topic)
            if counter is None:  # one label lookup per topic, not per event
                counter = counted[topic] = EVENTS_OUT.labels(name, topic)
            counter.inc()
            delay.observe(max(0.0, written_at - event.message.timestamp))
        STATE_UNFLUSHED.labels(name).set(unacked())
        BATCH_EVENTS.labels(name).observe(len(events))
        elapsed = time.perf_counter() - started
        PROCESSING.labels(name).observe(elapsed / max(1, len(events)))

    hooks = getattr(app.consumer, "before_wait_empty", None)
    if hooks is not None:
        hooks.append(before_revoke)
    background = [
        asyncio.create_task(flush_when_quiet(), name=f"{name}-state-flush"),
        asyncio.create_task(ack_when_durable(), name=f"{name}-acks"),
        asyncio.create_task(handle_stale(), name=f"{name}-late-batches"),
    ]
    try:
        async for events in stream.noack_take(max_, within):
            if not pending:
                pending_since = time.monotonic()
            pending.extend(events)
            if keep_collecting(
                len(pending),
                time.monotonic() - pending_since,
                behind_by(events),
                app.flow_control.is_active(),
                max_,
                behind_max,
                behind_wait,
            ):
                continue
            await handle_pending()
    finally:
        for task in background:
            task.cancel()
        if hooks is not None and before_revoke in hooks:
            hooks.remove(before_revoke)


def keep_collecting(
    collected: int,
    age_s: float,
    behind: int,
    flowing: bool,
    max_: int,
    behind_max: int,
    behind_wait: float,
) -> bool:
    """Whether to wait for one more batch before handling what was collected: only while the
    worker is behind (at least a full batch, `max_`, after the newest events taken), the flow
    is not suspended, and the collection is below `behind_max` events and `behind_wait`
    seconds."""
    return flowing and behind >= max_ and collected < behind_max and age_s < behind_wait


async def _rule_batch(
    name: str,
    events: list[faust.types.EventT],
    state: BatchState,
    decoder: Decoder,
    handler: Handler,
    progress: Progress | None,
    links: list[tracing.Link] | None = None,
) -> tuple[list[VersionedWrite], list[Send]]:
    """Decode and rule every event of a batch over `state`: the newest read-model write per
    key and the records to send. Undecodable and refused events go to the DLQ here. Traced,
    each event's span continues its producer's trace and is linked from the batch's span
    (`links`), and what it sends carries that span onwards."""
    writes: dict[str, VersionedWrite] = {}
    sends: list[Send] = []
    state.scratch.clear()
    for event in events:
        message = event.message
        if progress is not None:
            progress.saw(message.topic, message.partition, message.offset, message.timestamp * 1000)
        if tracing.ENABLED:
            with tracing.span(
                f"{message.topic} process",
                kind=tracing.SpanKind.CONSUMER,
                parent=tracing.parent_from(message.headers),
                attributes={"messaging.system": "kafka",
                            "messaging.destination.name": message.topic,
                            "messaging.kafka.partition": message.partition,
                            "messaging.kafka.offset": message.offset},
            ) as current:  # fmt: skip
                outcome = await _rule_event(name, event, state, decoder, handler, current)
                if links is not None:
                    links.append(tracing.link_to(current))
                if outcome is not None and outcome.sends:
                    carried = tracing.headers_of(current)
                    outcome.sends[:] = [replace(send, headers=carried) for send in outcome.sends]
        else:
            outcome = await _rule_event(name, event, state, decoder, handler)
        if outcome is None:
            continue
        for write in outcome.writes:  # versions only grow within a batch
            writes[write.key] = newest(writes.get(write.key), write)
        sends.extend(outcome.sends)
    # the newest write per key, computed while the batch's state is still current
    return [write.resolved() for write in writes.values()], sends


async def _rule_event(
    name: str,
    event: faust.types.EventT,
    state: BatchState,
    decoder: Decoder,
    handler: Handler,
    span: tracing.Span | None = None,
) -> Outcome | None:
    """One event: decoded, then ruled; None when it went to the DLQ instead. `span`: the
    event's own span when traced (decode and rules get a child each), else None, and no
    span object or attribute dict is made for the event."""
    with tracing.child_span(span, "decode"):
        decoded = await decoder.decode(event)
    if decoded is None:
        return None
    schema, record = decoded
    if span is not None:
        span.set_attributes(tracing.event_attributes(record.get("after") or record))
    state.event = event
    try:
        with (
            log_context(trace_id=record.get("trace_id"), tenant_id=record.get("tenant_id"),
                        brand_id=record.get("brand_id")),
            tracing.child_span(span, "rules", attributes={"schema": schema.stem}),
        ):  # fmt: skip
            outcome = handler(state, schema, record)
    except DecodeError as exc:  # a rule refused the event before changing state
        await decoder.dead_letter(event, exc)
        return None
    except Exception as exc:
        log.exception("%s: processing failed", name)
        await decoder.dead_letter(event, DecodeError("processing_error", repr(exc)))
        return None
    if isinstance(outcome, list):
        outcome = Outcome(writes=outcome)
    return outcome


async def send_durably(
    name: str,
    sends: list[Send],
    topics: dict[str, faust.types.TopicT],
    pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Send signals and repartitioned records and wait until the broker has them all.

    The state a batch changes remembers what it sent (fired windows, event ids), and a crash
    after that state reached its changelog replays the batch over it: the replay sends nothing
    again. So the state must not reach the changelog before what it remembers is on the broker:
    both are only buffered in the producer until acknowledged, and a kill -9 can keep the
    changelog record and lose the signal. Undelivered records are sent again, with capped
    backoff, and the batch waits (back-pressure); a record sent again has the same id.
    """
    pending = list(sends)
    if not pending:
        return

    async def attempt() -> None:
        futures: list[Awaitable[Any]] = []
        for send in pending:
            topic = topics.get(send.topic)
            if topic is None:
                topic = topics[send.topic] = app.topic(send.topic)
            try:
                futures.append(
                    await topic.send(key=send.key, value=send.value, headers=send.headers)
                )
            except (TimeoutError, KafkaError) as exc:  # no metadata yet, buffer full
                futures.append(_failed(exc))
        results = await settle(futures, DELIVERY_DEADLINE_S)
        failed, errors = [], []
        for send, result in zip(pending, results, strict=True):
            if result is not None:
                failed.append(send)
                errors.append(result)
            else:
                SENT.labels(name, send.topic).inc()
        pending[:] = failed
        if failed:
            raise Undelivered(f"{len(failed)} of {len(results)} records: {errors[0]!r}")

    await until_sink_accepts(name, attempt, retry_on=(Undelivered,), pause=pause)


async def settle(futures: list[Awaitable[Any]], timeout: float) -> list[BaseException | None]:
    """Wait up to `timeout` for every future: per future None (done) or its exception (a
    TimeoutError for one still not done; it is left to finish, a resend has the same id)."""
    if not futures:
        return []
    tasks = [asyncio.ensure_future(f) for f in futures]
    _, late = await asyncio.wait(tasks, timeout=timeout)
    out: list[BaseException | None] = []
    for task in tasks:
        if task in late:
            out.append(TimeoutError(f"not acknowledged within {timeout:.0f} s"))
        elif task.cancelled():
            out.append(asyncio.CancelledError())
        else:
            out.append(task.exception())
    return out


async def _failed(exc: BaseException) -> None:
    raise exc


async def _write_models(name: str, batch_writes: list[VersionedWrite]) -> None:
    if batch_writes:
        SINK_BATCH.labels("redis").observe(len(batch_writes))
        await until_sink_accepts(name, read_models().write, batch_writes)
