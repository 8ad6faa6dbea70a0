"""The fetch loop marks a record read only when the stream got it in the current assignment:
a record a rebalance interrupted, or one fetched for an assignment that has ended, leaves the
read offset alone, so the seek after the rebalance reads it again (`agents/transport.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import faust
from faust.types import TP, ConsumerMessage

from agents.transport import SafeConsumer
from foundation.settings import get_settings

TOPIC = TP("bet.placed", 3)
BUFFER = 4  # the stream buffer's size in these tests
Callback = Callable[[SafeConsumer, Any], Awaitable[None]]


def _record(offset: int, generation: int = 7) -> ConsumerMessage:
    return ConsumerMessage(
        TOPIC.topic, TOPIC.partition, offset, 0.0, 0, None, b"k", b"v", None, tp=TOPIC,
        generation_id=generation,
    )  # fmt: skip


async def _batch(records: list[ConsumerMessage]) -> AsyncIterator[tuple[TP, ConsumerMessage]]:
    for record in records:
        yield TOPIC, record


def _deliver(
    records: list[ConsumerMessage],
    on_record: Callback,
    read_before: int | None = None,
    pending: dict[TP, int] | None = None,
    setup: Callable[[SafeConsumer], None] | None = None,
) -> tuple[list[int], int | None]:
    """Run the loop's delivery over `records` on a consumer built (never started: no broker is
    contacted) inside the running event loop; returns the offsets handed over and the read
    offset afterwards."""
    got: list[int] = []

    async def run() -> int | None:
        app = faust.App(
            "fetch-loop-test",
            broker="wagerstream://127.0.0.1:1",
            autodiscover=False,
            stream_buffer_maxsize=BUFFER,
        )
        consumer = app.consumer
        assert isinstance(consumer, SafeConsumer)
        app.consumer_generation_id = 7
        if setup is not None:
            setup(consumer)
        if read_before is not None:
            consumer._read_offset[TOPIC] = read_before

        async def callback(message: Any) -> None:
            await on_record(consumer, message)
            got.append(message.offset)

        consumer.callback = callback
        batch = _batch(records)
        await asyncio.wait_for(
            consumer._deliver(batch, consumer._read_offset, app.topics.acks_enabled_for), 20
        )
        if pending is not None:
            pending.update(consumer._pending_seeks)
        return consumer._read_offset[TOPIC]

    return got, asyncio.run(run())


async def _take(consumer: SafeConsumer, message: Any) -> None:
    return None


def test_delivered_records_move_the_read_offset() -> None:
    assert _deliver([_record(40), _record(41), _record(42)], _take) == ([40, 41, 42], 42)


def test_a_record_a_rebalance_interrupts_is_not_marked_read() -> None:
    async def full_buffer_at_41(consumer: SafeConsumer, message: Any) -> None:
        if message.offset == 41:  # the stream's buffer is full; a rebalance suspends the flow
            consumer.stop_flow()
            await asyncio.sleep(30)

    got, read = _deliver([_record(40), _record(41), _record(42)], full_buffer_at_41)
    assert got == [40]
    assert read == 40  # 41 and 42 are read again after the seek


def test_an_interrupted_batch_seeks_back_to_its_first_record_not_handed_over() -> None:
    """The flow suspended without a rebalance: the fetcher is past 43 already, so the loop
    seeks back to 41, or 41-43 would become a hole under the records acked after them."""

    async def full_buffer_at_41(consumer: SafeConsumer, message: Any) -> None:
        if message.offset == 41:
            consumer.suspend_flow.set()
            await asyncio.sleep(30)

    pending: dict[TP, int] = {}
    records = [_record(40), _record(41), _record(42), _record(43)]
    got, read = _deliver(records, full_buffer_at_41, pending=pending)
    # sought by the fetch loop itself before its next fetch (never during one)
    assert got == [40] and pending == {TOPIC: 41} and read == 40


def test_records_of_an_ended_assignment_stop_the_batch() -> None:
    async def rebalance_during_41(consumer: SafeConsumer, message: Any) -> None:
        if message.offset == 41:  # the rebalance completes while this one is handed over
            consumer.app.consumer_generation_id = 8

    records = [_record(40), _record(41), _record(42), _record(43, generation=8)]
    got, read = _deliver(records, rebalance_during_41)
    # 41 reached a stream that now skips it (old generation): not read; 42 is not handed on
    assert got == [40, 41]
    assert read == 40


def test_a_record_already_read_in_this_assignment_is_not_delivered_twice() -> None:
    got, read = _deliver([_record(40), _record(41), _record(42)], _take, read_before=41)
    assert (got, read) == ([41, 42], 42)


def _with_consumer(check: Callable[[SafeConsumer], None]) -> None:
    async def run() -> None:
        app = faust.App("fetch-loop-test", broker="wagerstream://127.0.0.1:1", autodiscover=False)
        consumer = app.consumer
        assert isinstance(consumer, SafeConsumer)
        check(consumer)

    asyncio.run(run())


def test_a_hole_below_acked_records_that_no_stream_holds_is_found() -> None:
    def check(consumer: SafeConsumer) -> None:
        consumer._committed_offset[TOPIC] = 100
        consumer._acked[TOPIC].extend([104, 105, 106])  # 100-103 never handed over
        assert consumer.holes({TOPIC}) == {TOPIC: (100, 104)}
        # a record of the hole still held by a stream (being processed): not a hole
        held = _record(101)
        consumer._unacked_messages.add(held)
        assert consumer.holes({TOPIC}) == {}
        consumer._unacked_messages.discard(held)
        # one record short at the committed offset is a hole too (Faust commits over it)...
        consumer._acked[TOPIC][:] = [101, 102]
        assert consumer.holes({TOPIC}) == {TOPIC: (100, 101)}
        # ...unless that offset is known to hold no record (compacted, a transaction marker)
        consumer._gap[TOPIC].addi(100, 101)
        assert consumer.holes({TOPIC}) == {}
        consumer._gap[TOPIC].clear()
        # not assigned here, or during a rebalance: nothing to say
        consumer._acked[TOPIC][:] = [104]
        assert consumer.holes(set()) == {}
        consumer.stop_flow()
        assert consumer.holes({TOPIC}) == {}

    _with_consumer(check)


def test_a_committed_offset_of_zero_is_not_committed_past() -> None:
    def check(consumer: SafeConsumer) -> None:
        consumer._committed_offset[TOPIC] = 0
        consumer._acked[TOPIC].extend([2, 3])  # 0 and 1 were never acked
        assert consumer._new_offset(TOPIC) is None
        consumer._acked[TOPIC][:] = [0, 1, 2, 3]
        assert consumer._new_offset(TOPIC) == 4

    _with_consumer(check)


def test_an_unacked_record_at_the_committed_offset_is_not_committed_past() -> None:
    """Faust commits 101-102 over an unacked 100 (a settlement that never reached the stream
    was lost so); only a record known not to exist there may be passed."""

    def check(consumer: SafeConsumer) -> None:
        consumer._committed_offset[TOPIC] = 100
        consumer._acked[TOPIC].extend([101, 102])
        assert consumer._new_offset(TOPIC) is None
        consumer._gap[TOPIC].addi(100, 101)
        assert consumer._new_offset(TOPIC) == 103

    _with_consumer(check)


def test_a_batch_fetched_while_a_seek_runs_is_read_again_from_the_committed_offset() -> None:
    """Faust resumes the partitions before its seek to the committed offsets ends: records
    handed over meanwhile had their read offset reset under them and were written off as a
    compaction gap. Here the loop stops at the first record after the seek began and reads
    the partition again from the committed offset."""

    async def seek_starts_during_41(consumer: SafeConsumer, message: Any) -> None:
        if message.offset == 41:
            consumer._seek_epoch += 2  # a seek began and ended while 41 was handed over
            consumer._committed_offset[TOPIC] = 38

    pending: dict[TP, int] = {}
    records = [_record(40), _record(41), _record(42), _record(43)]
    got, read = _deliver(records, seek_starts_during_41, pending=pending)
    assert got == [40, 41] and read == 41 and pending == {TOPIC: 38}


def test_a_first_record_past_where_a_seek_put_the_partition_proves_the_offsets_between_empty() -> (
    None
):
    """After a seek to 40 the fetcher returns 43 first: 40-42 hold no record (compacted, or
    transaction markers), so acking 43 and 44 commits up to 45."""

    async def run() -> int | None:
        app = faust.App("fetch-loop-test", broker="wagerstream://127.0.0.1:1", autodiscover=False)
        consumer = app.consumer
        assert isinstance(consumer, SafeConsumer)
        app.consumer_generation_id = 7
        consumer._committed_offset[TOPIC] = 40
        consumer._read_offset[TOPIC] = 40
        consumer._next_offset[TOPIC] = 40  # where the seek put the partition

        async def callback(message: Any) -> None:
            consumer._acked[TOPIC].append(message.offset)

        consumer.callback = callback
        await consumer._deliver(_batch([_record(43), _record(44)]), consumer._read_offset,
                                lambda topic: True)  # fmt: skip
        return consumer._new_offset(TOPIC)

    assert asyncio.run(run()) == 45


def test_a_record_read_twice_leaves_the_unacked_set_when_acked() -> None:
    def check(consumer: SafeConsumer) -> None:
        again = _record(101)
        consumer._unacked_messages.add(again)
        consumer.ack(again)
        assert again not in consumer._unacked_messages

    _with_consumer(check)


def test_a_callback_that_does_not_suspend_is_not_raced_against_the_flow() -> None:
    """The common case (room in the stream's buffer) costs no task and no `wait_first`."""
    raced: list[int] = []
    current: list[int] = []

    async def note_races(consumer: SafeConsumer, message: Any) -> None:
        if not current:
            original = consumer.wait_first

            async def counting(*coros: Any, **kwargs: Any) -> Any:
                raced.append(current[-1])
                return await original(*coros, **kwargs)

            consumer.wait_first = counting  # type: ignore[method-assign]
        current.append(message.offset)
        if message.offset == 42:
            await asyncio.sleep(0.01)  # suspends once: raced, then resumed where it stopped

    got, read = _deliver([_record(40), _record(41), _record(42), _record(43)], note_races)
    assert (got, read) == ([40, 41, 42, 43], 43)
    assert raced == [42]


def test_an_interrupted_callback_is_cancelled_where_it_waits() -> None:
    """A suspended callback the flow's suspension wins over is cancelled inside its own wait
    (as Faust's own task per record would be), not left running."""
    seen: list[str] = []

    async def full_buffer_at_41(consumer: SafeConsumer, message: Any) -> None:
        if message.offset == 41:
            consumer.stop_flow()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

    got, read = _deliver([_record(40), _record(41), _record(42)], full_buffer_at_41)
    assert (got, read, seen) == ([40], 40, ["cancelled"])


def _full_buffer(drain_after_s: float | None) -> tuple[Callable[[SafeConsumer], None], list]:
    """A stream buffer of TOPIC holding BUFFER events; after `drain_after_s` the stream takes
    three of them (one is left: under half). Returns the set-up and the order of what
    happened ("drained", then the offsets handed over)."""
    happened: list = []
    tasks: list[asyncio.Future] = []

    def setup(consumer: SafeConsumer) -> None:
        channel = consumer.app.topic(TOPIC.topic)
        consumer.app.topics._tp_index[TOPIC].add(channel)
        for n in range(BUFFER):
            channel.queue.put_nowait(n)

        async def drain() -> None:
            await asyncio.sleep(drain_after_s)
            for _ in range(3):
                channel.queue.get_nowait()
            happened.append("drained")

        if drain_after_s is not None:
            tasks.append(asyncio.ensure_future(drain()))

    return setup, happened


def test_a_full_stream_buffer_is_waited_for_once_before_the_records_go_in() -> None:
    """Records wait until the stream has taken the buffer down to half, then go in without
    suspending (Faust would race each one against the flow in tasks of its own)."""
    setup, happened = _full_buffer(drain_after_s=0.05)

    async def note(consumer: SafeConsumer, message: Any) -> None:
        happened.append(message.offset)

    got, read = _deliver([_record(40), _record(41)], note, setup=setup)
    assert (got, read) == ([40, 41], 41)
    assert happened == ["drained", 40, 41]


def test_a_rebalance_while_waiting_for_room_leaves_the_record_unread() -> None:
    """The wait for room is interruptible: a suspension of the flow ends it, the record is
    not handed over, its read offset stays, and the loop seeks back to it."""
    setup, happened = _full_buffer(drain_after_s=None)

    def setup_and_suspend(consumer: SafeConsumer) -> None:
        setup(consumer)
        asyncio.get_running_loop().call_later(0.05, consumer.suspend_flow.set)

    pending: dict[TP, int] = {}
    got, read = _deliver([_record(40), _record(41)], _take, pending=pending,
                         setup=setup_and_suspend)  # fmt: skip
    assert (got, read, pending, happened) == ([], None, {TOPIC: 40}, [])


def _buffer_of(consumer: SafeConsumer) -> Any:
    """The stream buffer (a queue the app's flow control empties on resume) of TOPIC."""
    channel = consumer.app.topic(TOPIC.topic)
    consumer.app.topics._tp_index[TOPIC].add(channel)
    return channel.queue


def test_records_the_resume_after_a_seek_empties_from_the_buffers_are_read_again() -> None:
    """A chaos run's scale-out lost two deposits so: the seek that ends a recovery put the
    partition at 0, the fetcher handed 0-3 over meanwhile, Faust's `flow_control.resume()`
    then emptied the buffer, and 4 came next, so 0-3 looked like a compaction gap and were
    committed unhandled. Here the clear asks for the lowest offset it took out again; records
    of an ended assignment and items that are no records are left to the rebalance's seek."""

    def record(tp: TP, offset: int) -> SimpleNamespace:
        return SimpleNamespace(message=ConsumerMessage(
            tp.topic, tp.partition, offset, 0.0, 0, None, b"k", b"v", None, tp=tp,
            generation_id=7))  # fmt: skip

    def check(consumer: SafeConsumer) -> None:
        app = consumer.app
        app.consumer_generation_id = 7
        other, changelog = TP("payment.deposit", 8), TP("app-player_risk-changelog", 8)
        app.topics._acking_topics.update({TOPIC.topic, other.topic})  # the streams' topics
        buffer = _buffer_of(consumer)
        for item in (
            SimpleNamespace(message=_record(41)),
            SimpleNamespace(message=_record(40)),
            SimpleNamespace(message=_record(12, generation=6)),  # an ended assignment's
            record(other, 3),
            record(changelog, 5),  # Faust's recovery seeks the changelogs itself
            "not a record",
        ):
            buffer.put_nowait(item)
        app.flow_control.resume()
        assert buffer.empty()
        assert consumer._pending_seeks == {TOPIC: 40, other: 3}

    _with_consumer(check)


def test_a_revocation_emptying_the_buffers_asks_for_nothing_to_be_read_again() -> None:
    """A clear while the flow is suspended is a revocation's: the seek to the committed
    offsets after the rebalance reads those records again (a seek from here could come after
    it and skip records)."""

    def check(consumer: SafeConsumer) -> None:
        consumer.app.consumer_generation_id = 7
        buffer = _buffer_of(consumer)
        buffer.put_nowait(SimpleNamespace(message=_record(40)))
        consumer.app.flow_control.suspend()
        consumer.app.flow_control.clear()
        assert buffer.empty() and consumer._pending_seeks == {}

    _with_consumer(check)


def test_a_batch_whose_records_the_buffers_lost_stops_and_is_read_again() -> None:
    """The flow resumes while 41 is handed over: 40 and 41 leave the buffer unread, so the
    loop hands over nothing more and both are read again from 40."""

    async def resume_during_41(consumer: SafeConsumer, message: Any) -> None:
        consumer.app.topics._acking_topics.add(TOPIC.topic)
        buffer = _buffer_of(consumer)
        buffer.put_nowait(SimpleNamespace(message=message))
        if message.offset == 41:
            consumer.app.flow_control.resume()

    pending: dict[TP, int] = {}
    records = [_record(40), _record(41), _record(42), _record(43)]
    got, _ = _deliver(records, resume_during_41, pending=pending)
    assert got == [40, 41] and pending == {TOPIC: 40}


def test_nothing_is_handed_over_while_a_seek_runs() -> None:
    """A batch that began after a seek to the committed offsets began: its records wait for
    the seek to end and are then read again from the committed offset."""

    def seek_running(consumer: SafeConsumer) -> None:
        consumer._seeks_running = 1
        consumer._seeks_done.clear()

        def seek_done() -> None:
            consumer._seeks_running = 0
            consumer._seeks_done.set()
            consumer._committed_offset[TOPIC] = 38

        asyncio.get_running_loop().call_later(0.05, seek_done)

    pending: dict[TP, int] = {}
    got, read = _deliver([_record(40), _record(41)], _take, pending=pending, setup=seek_running)
    assert (got, read, pending) == ([], None, {TOPIC: 38})


def test_an_ack_of_a_record_no_stream_took_does_not_count() -> None:
    """A stream meeting a record while the flow is suspended skips it and acks it: the record
    was never handled, so its offset must not be committed."""

    def check(consumer: SafeConsumer) -> None:
        consumer.app.consumer_generation_id = 7
        consumer.app.topics._acking_topics.add(TOPIC.topic)
        consumer._committed_offset[TOPIC] = 40
        skipped = _record(40)  # a stream tracks every record it takes
        assert consumer.ack(skipped) is False
        assert consumer._new_offset(TOPIC) is None
        taken = _record(40)
        taken.tracked = True
        assert consumer.ack(taken) is True
        assert consumer._new_offset(TOPIC) == 41

    _with_consumer(check)


def test_reads_asked_for_in_an_ended_assignment_are_dropped() -> None:
    """The rebalance's seek to the committed offsets reads everything uncommitted again; a
    seek asked for before it could come after it and skip records."""

    def check(consumer: SafeConsumer) -> None:
        consumer.app.consumer_generation_id = 7
        consumer.seek_before_next_fetch(TOPIC, 40)
        consumer.app.consumer_generation_id = 8
        other = TP("payment.deposit", 8)
        consumer.seek_before_next_fetch(other, 3)
        assert consumer._pending_seeks == {other: 3}

    _with_consumer(check)


def test_the_broker_fetch_wait_settings_reach_aiokafka(monkeypatch: Any) -> None:
    """Faust passes neither setting to aiokafka (it fixes the wait at 1.5 s): the consumer
    thread sets both on the consumer before it starts, which is when aiokafka reads them."""
    monkeypatch.setenv("WAGERSTREAM_WORKER_FETCH_MIN_BYTES", "65536")
    monkeypatch.setenv("WAGERSTREAM_WORKER_FETCH_MAX_WAIT_MS", "20")

    def check(consumer: SafeConsumer) -> None:
        made = consumer._thread._create_worker_consumer(consumer.app.transport)
        assert (made._fetch_min_bytes, made._fetch_max_wait_ms) == (65536, 20)

    get_settings.cache_clear()  # settings are read once per process
    try:
        _with_consumer(check)
    finally:
        get_settings.cache_clear()
