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
again. This belongs upstream.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode import Service, ServiceT

from agents.metrics import REREAD

HOLE_CHECK_S = 10.0  # a hole seen in two checks in a row is read again


class SafeConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with three repairs: the fetch loop below; a committed offset
    of 0 kept as 0 (Faust stores it as "unknown", and its commit then does not check that the
    acked offsets start at it); and a watch for holes: records below the acked ones of a
    partition that no stream holds. Per partition the streams hand records on in order, so
    acked records above a record no stream holds mean that record was never handed over; Faust
    then never commits the partition again. The watch reads such a partition again from its
    committed offset (the rules and sinks are idempotent, so what is read twice counts once)."""

    _committed_zero: frozenset[TP] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending_seeks: dict[TP, int] = {}

    async def seek_to_committed(self) -> Any:
        offsets = await super().seek_to_committed()
        self._committed_zero = frozenset(tp for tp, offset in offsets.items() if offset == 0)
        return offsets

    async def perform_seek(self) -> None:
        await super().perform_seek()
        for tp in self._committed_zero:
            self._committed_offset[tp] = 0

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        if self._committed_offset[tp] == 0 and acked and min(acked) > 1 and not self._gap[tp]:
            return None  # offsets 0 and up were never acked: nothing to commit yet
        return super()._new_offset(tp)

    def holes(self, assignment: set[TP]) -> dict[TP, tuple[int, int]]:
        """Per assigned partition whose commit is stuck: (committed, lowest acked offset), when
        no stream holds a record between them."""
        if not self.flow_active:
            return {}
        held = [(m.tp, m.offset) for m in list(self._unacked_messages)]
        out: dict[TP, tuple[int, int]] = {}
        for tp, acked in list(self._acked.items()):
            committed = self._committed_offset[tp]
            if tp not in assignment or not acked or committed is None:
                continue
            low = min(acked)
            if low - committed <= 1:  # Faust commits these (a marker may sit at `committed`)
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
        async for tp, message in batch:
            if message.generation_id != app.consumer_generation_id or not self.flow_active:
                return  # fetched for an assignment that has ended: the next seek reads it again
            since_yield += 1
            if since_yield > 100:
                await asyncio.sleep(0)
                since_yield = 0
            offset = message.offset
            last = read_offset[tp]
            if last is not None and offset < last:
                continue  # delivered before in this assignment
            if last and offset - last > 1 and acks_enabled_for(message.topic):
                await self._add_gap(tp, last + 1, offset)  # compacted or transaction markers
            if self._commit_every is not None and self._n_acked >= self._commit_every:
                self._n_acked = 0
                await self.commit()
            handing = self.callback(message)
            outcome = await self.wait_first(handing, self.suspend_flow.wait())
            delivered = any(done is handing for done in outcome.done)
            if message.generation_id != app.consumer_generation_id:
                return  # handed to a stream that now skips it: the rebalance's seek re-reads
            if not delivered:  # interrupted: the fetcher has moved past the rest of the batch
                await self._seek_back(tp, offset, batch, message.generation_id)
                return
            read_offset[tp] = offset

    async def _seek_back(self, tp: TP, offset: int, rest: Any, generation: int) -> None:
        """Seek each partition of an interrupted batch back to its first record not handed
        over. Otherwise, when the flow resumes without a rebalance, the fetcher goes on after
        the batch, the streams ack the records after it, and the ones dropped here become a
        hole that stops the partition's commits until the hole watch reads it again (on a busy
        CI machine that throttled a worker to an event a second)."""
        first = {tp: offset}
        async for other, message in rest:  # already fetched: this fetches nothing more
            if message.generation_id == generation:
                first.setdefault(other, message.offset)
        for partition, start in first.items():
            self.seek_before_next_fetch(partition, start)

    def seek_before_next_fetch(self, tp: TP, offset: int) -> None:
        """Ask the fetch loop to seek `tp` before its next fetch. A seek from another task
        while a fetch is under way races aiokafka's fetcher (`KeyError` in `fetched_records`,
        which crashed a soak's worker when the hole watch sought on its own)."""
        self._pending_seeks[tp] = min(offset, self._pending_seeks.get(tp, offset))

    async def _apply_pending_seeks(self) -> None:
        pending, self._pending_seeks = self._pending_seeks, {}
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


class Transport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[SafeConsumer]] = SafeConsumer  # type: ignore[assignment]
