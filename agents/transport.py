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
from mode import Service, ServiceT


class SafeConsumer(faust_aiokafka.Consumer):
    async def _drain_messages(self, fetcher: ServiceT) -> None:
        app = self.app
        read_offset = self._read_offset
        acks_enabled_for = app.topics.acks_enabled_for
        consumer_stopping = cast(Service, self)._stopped.is_set
        fetcher_stopping = cast(Service, fetcher)._stopped.is_set
        try:
            while not (consumer_stopping() or fetcher_stopping()):
                self.diag.set_flag(CONSUMER_FETCHING)
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
            if not delivered or message.generation_id != app.consumer_generation_id:
                return  # not handed over, or handed to a stream that now skips it
            read_offset[tp] = offset


class Transport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[SafeConsumer]] = SafeConsumer  # type: ignore[assignment]
