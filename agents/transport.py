"""Faust's aiokafka transport with a fetch loop that never marks a record read unless the
stream really got it in the current assignment. Registered as the `wagerstream://` broker
scheme through Faust's `faust.transports` entry point (pyproject.toml).

Faust's loop (`Consumer._drain_messages`) hands each record to the streams while waiting on
the flow's suspend event, and sets the partition's read offset afterwards in every case. When
a rebalance suspends the flow while a record waits for room in a full stream buffer (a worker
behind, or one just woken from a stall), the record is not delivered, yet the read offset moves
to it, and it may move there after the rebalance's seek reset it to the committed offset. The
records between the committed offset and that one are then fetched again and dropped as
already read. Faust then either never commits that partition again (its commit waits for the
missing offsets: a chaos run's `ledger.cdc` partition stayed 4,867 records behind) or, when
the committed offset was 0, which Faust's commit check treats as unknown, commits past them
and they are lost (faust-streaming issues #216, #606 describe the same family). Here a
record that was not delivered, or was fetched for an assignment that has ended, stops the
batch without touching the read offset; the seek that follows every rebalance reads it
again.

Two more ways to lose records, both found by a restart test on a busy machine: Faust resumes
a new assignment's partitions before its seek to the committed offsets has finished, so a
batch fetched meanwhile was handed to the streams and the seek's late reset of the read
offset then wrote those records off as a compaction gap (89 settlements lost in one run); and
Faust commits past a record at the committed offset that was never acked (it allows a
one-offset hole there, for a transaction marker), which lost a settlement that never reached
the stream. Here the fetch loop hands nothing over while a seek runs, a partition is never
committed past its committed offset until that record is acked or known not to exist (a seek
says where the next record must be; a first record past it proves the offsets between are
compacted or markers), and the hole watch reads such a partition again.

And two more, found by a chaos run whose scale-out lost a velocity alert: every
`app.flow_control.resume()` empties the streams' buffers, and Faust calls it right after the
seek that ends a recovery, so records handed over meanwhile vanished unread while the fetcher
went on past them; the next record then looked like the first one after a compaction gap, and
the commit passed over them. Here the records a clear takes out of the buffers are read again
(`read_cleared`). And a stream that meets a record while the flow is suspended skips it and
acks it, so a revocation's commit could pass over a record nobody handled; here only a record
a stream took counts as acked. This belongs upstream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from typing import Any, ClassVar, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode import Service, ServiceT

from agents.lease import LEASE_SHARE, MembershipLease
from agents.metrics import REREAD
from foundation.settings import get_settings

HOLE_CHECK_S = 10.0  # a hole seen in two checks in a row is read again
SEEK_WAIT_S = 60.0  # longest wait of the fetch loop for a seek to the committed offsets
ROOM_SHARE = 0.5  # a full stream buffer gets records again once it is down to this share
ROOM_POLL_S = 0.005  # how often the fetch loop looks whether a full buffer has room


def watch_heartbeats(coordinator: Any, lease: MembershipLease) -> None:
    """Renew `lease` with every heartbeat aiokafka's group coordinator gets accepted, and void
    it when one is refused because the member or its generation is unknown. aiokafka has no
    heartbeat callback, so the coordinator's heartbeat request is wrapped on this one
    instance (a callback belongs upstream)."""
    if getattr(coordinator, "_wagerstream_lease", None) is lease:
        return
    beat = coordinator._do_heartbeat

    async def heartbeat() -> bool:
        sent, generation = time.monotonic(), coordinator.generation
        accepted = bool(await beat())
        if accepted:  # a rebalance in progress counts: the member stays in the group
            lease.renew(sent, generation)
        elif coordinator.generation != generation:  # reset: dropped from the group
            lease.void()
        return accepted

    coordinator._do_heartbeat = heartbeat
    coordinator._wagerstream_lease = lease


class LeasedRebalanceListener(faust_aiokafka.ConsumerRebalanceListener):
    """Faust's rebalance listener (the consumer's `RebalanceListener` setting), which also
    renews the membership lease when the coordinator assigns a generation (the join that
    assigned it renewed the session, a few milliseconds before this runs) and from then on
    lets every accepted heartbeat renew it."""

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        coordinator = self._thread._ensure_consumer()._coordinator
        lease = cast(SafeConsumer, self._thread.consumer).lease
        lease.renew(time.monotonic(), coordinator.generation)
        watch_heartbeats(coordinator, lease)
        await super().on_partitions_assigned(assigned)


class FetchingThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread with the broker's fetch wait configurable
    (`WAGERSTREAM_WORKER_FETCH_MIN_BYTES`, `WAGERSTREAM_WORKER_FETCH_MAX_WAIT_MS`). Faust passes
    neither to aiokafka (it fixes the wait at 1.5 s and leaves the minimum at 1 byte), and the
    consumer reads both only when it starts, so they are set on it before that."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        settings = get_settings()
        consumer._fetch_min_bytes = settings.worker_fetch_min_bytes
        consumer._fetch_max_wait_ms = settings.worker_fetch_max_wait_ms
        return consumer


class SafeConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with three repairs: the fetch loop below; a committed offset
    of 0 kept as 0 (Faust stores it as "unknown", and its commit then does not check that the
    acked offsets start at it); and a watch for holes: records below the acked ones of a
    partition that no stream holds. Per partition the streams hand records on in order, so
    acked records above a record no stream holds mean that record was never handed over; Faust
    then never commits the partition again. The watch reads such a partition again from its
    committed offset (the rules and sinks are idempotent, so what is read twice counts once).

    And a membership lease (`agents.lease`): `owns()` says whether this worker may still act
    on what it was assigned, and `before_wait_empty` lets the agents write back or give up
    their unacked events when a rebalance (or a stop) starts waiting for them."""

    RebalanceListener: ClassVar[type[faust_aiokafka.ConsumerRebalanceListener]] = (
        LeasedRebalanceListener
    )

    def _new_consumer_thread(self) -> FetchingThread:
        return FetchingThread(self, loop=self.loop, beacon=self.beacon)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lease = MembershipLease(self.app.conf.broker_session_timeout * LEASE_SHARE)
        self.before_wait_empty: list[Callable[[], Awaitable[None]]] = []
        self._pending_seeks: dict[TP, int] = {}
        # where a seek put each partition: the offset its next record must have
        self._next_offset: dict[TP, int] = {}
        self._sought: dict[TP, int] = {}
        self._seeks_running = 0
        self._seek_epoch = 0  # bumped when a seek to the committed offsets starts and ends
        self._seeks_done = asyncio.Event()
        self._seeks_done.set()
        self._cleared = 0  # bumped when the flow control empties the stream buffers
        self._pending_generation: int | None = None  # the assignment the pending seeks are for
        watch_clears(self.app.flow_control, self.read_cleared, self._counts)

    async def seek_to_committed(self) -> Any:
        offsets = await super().seek_to_committed()
        self._sought = {tp: o for tp, o in offsets.items() if o is not None and o >= 0}
        return offsets

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets, announced to the fetch loop (`_deliver`):
        it may run while partitions already fetch (Faust resumes them first)."""
        self._seeks_running += 1
        self._seek_epoch += 1
        self._seeks_done.clear()
        self._pending_seeks.clear()  # everything past the committed offsets is read again
        try:
            await super().perform_seek()
            for tp, offset in self._sought.items():
                if offset == 0:  # Faust stores it as None ("unknown")
                    self._committed_offset[tp] = 0
            self._next_offset.update(self._sought)
        finally:
            self._seeks_running -= 1
            self._seek_epoch += 1
            if not self._seeks_running:
                self._seeks_done.set()

    async def seek(self, partition: TP, offset: int) -> None:
        await super().seek(partition, offset)
        if offset >= 0:
            self._next_offset[TP(partition.topic, partition.partition)] = offset

    def _counts(self, message: Any) -> bool:
        """Whether the commit counts `message`: a record of a stream's topic (acks enabled)
        in the current assignment."""
        return bool(
            message.generation_id == self.app.consumer_generation_id
            and self.app.topics.acks_enabled_for(message.topic)
        )

    def read_cleared(self, first: dict[TP, int]) -> None:
        """Records of this assignment that the flow control took out of the stream buffers
        unread (`first`: the lowest offset per partition): read them again from there, and
        stop the batch the fetch loop is handing over (`_deliver`)."""
        self._cleared += 1
        for tp, offset in first.items():
            self.seek_before_next_fetch(tp, offset)
            REREAD.labels(tp.topic).inc()
        self.log.info("%d partitions had records cleared from the stream buffers unread: "
                      "reading them again", len(first))  # fmt: skip

    def owns(self) -> bool:
        """Whether the lease on this generation's assignment holds."""
        return self.lease.holds(self.app.consumer_generation_id)

    async def wait_empty(self) -> None:
        """Faust's wait for every taken event to be acked (a rebalance's revoke, a stop), after
        the agents' hooks: they write back and ack what they hold, or give it up."""
        for hook in list(self.before_wait_empty):
            try:
                await hook()
            except Exception:  # the wait below still ends once the events are acked or given up
                self.log.exception("an agent's hook before the wait for its events failed")
        await super().wait_empty()

    def forget(self, messages: Iterable[Any]) -> None:
        """Events given up unacked: the rebalance stops waiting for them (the partition's next
        owner reads them again from the committed offset)."""
        for message in messages:
            self._unacked_messages.discard(message)

    def ack(self, message: Any) -> bool:
        """Faust's ack, which leaves a record read twice (its offset already acked) in the
        unacked set for ever (a rebalance then waits for it until its timeout), which would
        count an event fetched in an ended generation towards the next one's commit, and
        which counts a record a stream skipped without taking it (its flow suspended: a
        revocation) as done."""
        if message.generation_id != self.app.consumer_generation_id:
            self._unacked_messages.discard(message)
            return False
        if not message.tracked:  # skipped by a stream (a suspended flow), never handled
            self._unacked_messages.discard(message)
            return False
        done = super().ack(message)
        if not done:
            self._unacked_messages.discard(message)
        return done

    def _new_offset(self, tp: TP) -> int | None:
        committed = self._committed_offset[tp]
        acked = self._acked[tp]
        if (
            acked
            and committed is not None
            and min(acked) > committed
            and not self._gap[tp].overlaps_point(committed)
        ):
            return None  # the record at the committed offset was never acked: a hole
        return super()._new_offset(tp)

    def highwater_polled_ms(self, tp: TP) -> int | None:
        """When the fetcher last learnt `tp`'s high-water mark (wall-clock ms; None before the
        first fetch): a partition it paused keeps an old mark."""
        return cast(int | None, self._thread._ensure_consumer().last_poll_timestamp(tp))

    def holes(self, assignment: set[TP]) -> dict[TP, tuple[int, int]]:
        """Per assigned partition whose commit is stuck: (committed, lowest acked offset), when
        no stream holds a record between them and the committed offset is not known to hold no
        record (a gap)."""
        if not self.flow_active:
            return {}
        held = [(m.tp, m.offset) for m in list(self._unacked_messages)]
        out: dict[TP, tuple[int, int]] = {}
        for tp, acked in list(self._acked.items()):
            committed = self._committed_offset[tp]
            if tp not in assignment or not acked or committed is None:
                continue
            low = min(acked)
            if low <= committed or self._gap[tp].overlaps_point(committed):
                continue
            if any(t == tp and committed <= offset < low for t, offset in held):
                continue
            out[tp] = (committed, low)
        return out

    @Service.task
    async def _reread_holes(self) -> None:
        suspects: dict[TP, tuple[int, int]] = {}
        while not self.should_stop:
            await self.sleep(HOLE_CHECK_S)
            try:
                found = self.holes(set(self.assignment()))
                for tp, (committed, low) in list(found.items()):
                    if suspects.get(tp) != (committed, low):
                        continue
                    self.log.warning(
                        "%s: offsets %d-%d were never handed to a stream (offsets above are "
                        "acked); reading the partition again from %d", tp, committed, low - 1,
                        committed,
                    )  # fmt: skip
                    REREAD.labels(tp.topic).inc()
                    self.seek_before_next_fetch(tp, committed)
                    found.pop(tp, None)
                suspects = found
            except Exception:  # the watch is auxiliary: it never stops the consumer
                self.log.exception("hole watch failed; it runs again in %.0f s", HOLE_CHECK_S)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        app = self.app
        read_offset = self._read_offset
        acks_enabled_for = app.topics.acks_enabled_for
        consumer_stopping = cast(Service, self)._stopped.is_set
        fetcher_stopping = cast(Service, fetcher)._stopped.is_set
        try:
            while not (consumer_stopping() or fetcher_stopping()):
                self.diag.set_flag(CONSUMER_FETCHING)
                if self._pending_seeks:
                    await self._apply_pending_seeks()
                batch = self.getmany(timeout=1.0)
                await self.sleep(0)  # getmany can return at once, loop after loop
                if not self.should_stop:
                    try:
                        await self._deliver(batch, read_offset, acks_enabled_for)
                    finally:
                        await batch.aclose()
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, batch: Any, read_offset: Any, acks_enabled_for: Any) -> None:
        app = self.app
        since_yield = 0
        epoch, cleared = self._seek_epoch, self._cleared
        async for tp, message in batch:
            if message.generation_id != app.consumer_generation_id or not self.flow_active:
                return  # fetched for an assignment that has ended: the next seek reads it again
            if self._seek_epoch != epoch or self._seeks_running:
                # fetched while a seek ran: its position is unknown, and the flow control
                # empties the stream buffers when the seek is done
                await self._read_again_after_seek(tp, message, batch)
                return
            if self._cleared != cleared:  # the buffers were emptied: they are read again
                await self._seek_back(tp, message.offset, batch, message.generation_id)
                return
            since_yield += 1
            if since_yield > 100:
                await asyncio.sleep(0)
                since_yield = 0
            offset = message.offset
            last = read_offset[tp]
            if last is not None and offset < last:
                continue  # delivered before in this assignment
            expected = self._next_offset.pop(tp, None)
            if expected is None and last is not None:
                expected = last + 1
            if expected is not None and offset > expected and acks_enabled_for(message.topic):
                self._no_records(tp, expected, offset)
            if self._commit_every is not None and self._n_acked >= self._commit_every:
                self._n_acked = 0
                await self.commit()
            delivered = await self._hand_over(message)
            if message.generation_id != app.consumer_generation_id:
                return  # handed to a stream that now skips it: the rebalance's seek re-reads
            if not delivered:  # interrupted: the fetcher has moved past the rest of the batch
                await self._seek_back(tp, offset, batch, message.generation_id)
                return
            read_offset[tp] = offset

    def _no_records(self, tp: TP, start: int, end: int) -> None:
        """Offsets `start` to `end` (exclusive) hold no record (compacted, or transaction
        markers): the commit counts them as done. Faust's own gap starts one past the
        committed offset, which is why it commits over an unacked record there."""
        gap = self._gap[tp]
        gap.addi(start, end)
        gap.merge_overlaps()

    async def _read_again_after_seek(self, tp: TP, message: Any, rest: Any) -> None:
        """A batch fetched while a seek to the committed offsets ran is not handed over: once
        the seek is done each of its partitions is read again from the committed offset (or,
        with none, from its first record here)."""
        first = await _first_offsets(tp, message.offset, rest, message.generation_id)
        try:
            await asyncio.wait_for(self._seeks_done.wait(), SEEK_WAIT_S)
        except TimeoutError:
            self.log.warning(
                "seek to the committed offsets still running after %.0f s; "
                "reading the fetched partitions again anyway",
                SEEK_WAIT_S,
            )
        for partition, start in first.items():
            committed = self._committed_offset[partition]
            self.seek_before_next_fetch(partition, start if committed is None else committed)
            REREAD.labels(partition.topic).inc()
        self.log.info("%d partitions fetched during a seek: reading them again", len(first))

    async def _until_room(self, message: Any) -> bool:
        """Wait, when a stream buffer the record goes to is full, until it is down to
        `ROOM_SHARE`; False if the flow was suspended (or the assignment ended) first.

        A worker behind its backlog keeps its buffers full, and Faust hands a record to a full
        buffer through a task of its own, raced here against the flow: three tasks and two
        `asyncio.wait`s for every record, a tenth of a draining worker's CPU. Waiting once for
        half a buffer of room lets the next few thousand records go in without suspending.
        The flow stays interruptible: the wait ends as soon as it is suspended, and the record
        is then not handed over, exactly as an interrupted hand-over."""
        channels = self.app.topics._tp_index.get(message.tp)
        if not channels:
            return True
        full = [chan.queue for chan in channels if chan.queue.full()]
        while full:
            if (
                self.suspend_flow.is_set()
                or not self.flow_active
                or self.should_stop
                or message.generation_id != self.app.consumer_generation_id
            ):
                return False
            await asyncio.sleep(ROOM_POLL_S)
            full = [queue for queue in full if queue.qsize() > queue.maxsize * ROOM_SHARE]
        return True

    async def _hand_over(self, message: Any) -> bool:
        """Hand `message` to the streams; False if the flow was suspended first.

        Faust waits on every record with `wait_first(callback, suspend_flow.wait())`: four
        tasks and an `asyncio.wait` per record, though the callback almost always completes
        without suspending (it only waits when a stream's buffer is full, the producer buffer
        is over its limit, or during a resubscription). So the callback is run here up to its
        first suspension; only one that suspends is raced against the flow, resumed from
        where it stopped. This belongs upstream, in Faust's own fetch loop."""
        if not await self._until_room(message):
            return False
        handing = self.callback(message)
        try:
            waits_on = handing.send(None)
        except StopIteration:
            return True
        started = asyncio.ensure_future(_Resumed(handing, waits_on))
        outcome = await self.wait_first(started, self.suspend_flow.wait())
        return any(done is started for done in outcome.done)

    async def _seek_back(self, tp: TP, offset: int, rest: Any, generation: int) -> None:
        """Seek each partition of an interrupted batch back to its first record not handed
        over. Otherwise, when the flow resumes without a rebalance, the fetcher goes on after
        the batch, the streams ack the records after it, and the ones dropped here become a
        hole that stops the partition's commits until the hole watch reads it again (on a busy
        CI machine that throttled a worker to an event a second)."""
        first = await _first_offsets(tp, offset, rest, generation)
        for partition, start in first.items():
            self.seek_before_next_fetch(partition, start)

    def seek_before_next_fetch(self, tp: TP, offset: int) -> None:
        """Ask the fetch loop to seek `tp` before its next fetch. A seek from another task
        while a fetch is under way races aiokafka's fetcher (`KeyError` in `fetched_records`,
        which crashed a soak's worker when the hole watch sought on its own)."""
        generation = self.app.consumer_generation_id
        if self._pending_generation != generation:  # a rebalance's seek supersedes them
            self._pending_seeks.clear()
            self._pending_generation = generation
        self._pending_seeks[tp] = min(offset, self._pending_seeks.get(tp, offset))

    async def _apply_pending_seeks(self) -> None:
        pending, self._pending_seeks = self._pending_seeks, {}
        if self._pending_generation != self.app.consumer_generation_id:
            return  # asked for in an ended assignment: the rebalance's seek reads it all again
        try:
            assigned = self.assignment()
        except Exception:  # stopping, or not started: nothing to seek
            return
        for tp, offset in pending.items():
            if tp not in assigned:
                continue  # revoked meanwhile: its new owner starts from the committed offset
            try:
                await self.seek(tp, offset)
            except Exception:  # the hole watch repairs what this cannot
                self.log.exception("could not seek %s back to %d", tp, offset)


def watch_clears(
    flow_control: Any,
    read_again: Callable[[dict[TP, int]], None],
    counts: Callable[[Any], bool],
) -> None:
    """Call `read_again` with the records the commit `counts` (`cleared_offsets`) that each
    clear of the stream buffers takes out while the flow is active: the clear inside
    `resume()`, which Faust calls after the seek that ends a recovery. A clear while the flow
    is suspended is a revocation's, and records of an ended assignment are its: the seek
    after the rebalance reads those again. Changelog records (the tables' buffers) are left
    to Faust's recovery, which seeks those partitions itself. mode has no hook for it, so
    `clear` is wrapped on this one instance."""
    if getattr(flow_control, "_wagerstream_watched", False):
        return
    clear = flow_control.clear

    def clearing() -> None:
        active = flow_control.is_active()
        first = cleared_offsets(flow_control._queues, counts) if active else {}
        clear()
        if first:
            read_again(first)

    flow_control.clear = clearing
    flow_control._wagerstream_watched = True


def cleared_offsets(queues: Iterable[Any], counts: Callable[[Any], bool]) -> dict[TP, int]:
    """Per partition, the lowest offset of the records waiting in `queues` that `counts`
    (items that are no events carrying a consumer message are skipped)."""
    first: dict[TP, int] = {}
    for queue in list(queues):
        for item in list(getattr(queue, "_queue", ())):
            message = getattr(item, "message", None)
            if message is None or not getattr(message, "use_tracking", False):
                continue
            if not counts(message):
                continue
            tp, offset = message.tp, message.offset
            if offset < first.get(tp, offset + 1):
                first[tp] = offset
    return first


async def _first_offsets(tp: TP, offset: int, rest: Any, generation: int) -> dict[TP, int]:
    """Per partition, the first offset of an interrupted batch not handed over: `offset` on
    `tp`, and the first record of each other partition in the rest of the batch (already
    fetched: iterating it fetches nothing more)."""
    first = {tp: offset}
    async for other, message in rest:
        if message.generation_id == generation:
            first.setdefault(other, message.offset)
    return first


class _Resumed:
    """A coroutine already run up to its first suspension, awaitable from there: the task
    awaiting this waits for what the coroutine waits on, then resumes it (cancellation is
    thrown into it, as a task of its own would)."""

    def __init__(self, coro: Coroutine[Any, Any, Any], waits_on: Any) -> None:
        self._coro = coro
        self._waits_on = waits_on

    def __await__(self) -> Generator[Any, None, Any]:
        try:
            yield self._waits_on
        except BaseException as exc:
            try:
                self._waits_on = self._coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            return (yield from self.__await__())  # it went on waiting (it caught the cancellation)
        return (yield from self._coro.__await__())


class Transport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[SafeConsumer]] = SafeConsumer  # type: ignore[assignment]
