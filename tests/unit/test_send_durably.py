"""A batch's outputs are on the broker before the state that remembers them is written:
`send_durably` returns only once every record is acknowledged, and sends again what was not."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, NotLeaderForPartitionError
from prometheus_client import REGISTRY

from agents.runner import BatchState, Send, send_durably


class Topic:
    """Stands in for a Faust topic: `send` returns the delivery future, resolved by `outcomes`
    in order (None: acknowledged; an exception: that delivery failed)."""

    def __init__(self, outcomes: list[BaseException | None]) -> None:
        self.outcomes = outcomes
        self.sent: list[bytes] = []

    async def send(self, *, key: bytes, value: bytes, headers: Any = None) -> asyncio.Future[Any]:
        self.sent.append(value)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        outcome = self.outcomes.pop(0)
        if outcome is None:
            asyncio.get_running_loop().call_later(0.01, fut.set_result, "metadata")
        else:
            asyncio.get_running_loop().call_later(0.01, fut.set_exception, outcome)
        return fut


def _sent(agent: str) -> float:
    labels = {"agent": agent, "topic": "aml.alert"}
    return REGISTRY.get_sample_value("wagerstream_records_sent_total", labels) or 0.0


def _sends(n: int) -> list[Send]:
    return [Send("aml.alert", b"p%d" % i, b"v%d" % i) for i in range(n)]


def test_returns_after_every_record_is_acknowledged() -> None:
    topic = Topic([None, None, None])
    pauses: list[float] = []

    async def pause(s: float) -> None:
        pauses.append(s)

    before = _sent("t1")
    asyncio.run(send_durably("t1", _sends(3), {"aml.alert": topic}, pause))
    assert topic.sent == [b"v0", b"v1", b"v2"]
    assert pauses == []
    assert _sent("t1") - before == 3


def test_resends_only_what_was_not_acknowledged_until_it_is() -> None:
    # v1 fails twice (leader moved, then a timeout), v0 and v2 arrive the first time
    topic = Topic([None, NotLeaderForPartitionError(), None, KafkaTimeoutError(), None])
    pauses: list[float] = []

    async def pause(s: float) -> None:
        pauses.append(s)

    before = _sent("t2")
    asyncio.run(send_durably("t2", _sends(3), {"aml.alert": topic}, pause))
    assert topic.sent == [b"v0", b"v1", b"v2", b"v1", b"v1"]
    assert pauses == [pytest.approx(0.1), pytest.approx(0.2)]  # 0.1 s * 2^(attempt - 1)
    assert _sent("t2") - before == 3


def test_a_send_that_cannot_start_is_retried_like_a_failed_delivery() -> None:
    class NoMetadataOnce(Topic):
        async def send(
            self, *, key: bytes, value: bytes, headers: Any = None
        ) -> asyncio.Future[Any]:
            if not self.sent:
                self.sent.append(value)
                raise KafkaTimeoutError()
            return await super().send(key=key, value=value)

    topic = NoMetadataOnce([None])

    async def pause(s: float) -> None:
        pass

    asyncio.run(send_durably("t3", _sends(1), {"aml.alert": topic}, pause))
    assert topic.sent == [b"v0", b"v0"]


class Table:
    """Stands in for a `DurableTable`: each key written back makes one changelog future,
    resolved by `outcomes` in order, with a record's metadata (partition 0, the next offset)."""

    name = "player_risk"

    def __init__(self, outcomes: list[BaseException | None]) -> None:
        self.outcomes = outcomes
        self.puts: list[tuple[str, Any]] = []
        self.persisted_at: list[tuple[int, int]] = []

    def get(self, key: str) -> Any:
        return None

    async def write_back(self, entries: list[tuple[str, Any, Any]]) -> list[asyncio.Future[Any]]:
        loop = asyncio.get_running_loop()
        futures = []
        for key, value, _ in entries:
            self.puts.append((key, dict(value)))
            fut: asyncio.Future[Any] = loop.create_future()
            outcome = self.outcomes.pop(0)
            if outcome is None:
                meta = SimpleNamespace(partition=0, offset=len(self.puts) - 1)
                loop.call_later(0.01, fut.set_result, meta)
            else:
                loop.call_later(0.01, fut.set_exception, outcome)
            futures.append(fut)
        return futures

    def persisted(self, partition: int, offset: int) -> None:
        self.persisted_at.append((partition, offset))


class Event:
    """Only what `BatchState` keeps of an event: a reference to it."""


def test_state_is_confirmed_only_when_its_changelog_is_acknowledged() -> None:
    table = Table([None, NotLeaderForPartitionError(), None])
    pauses: list[float] = []

    async def pause(s: float) -> None:
        pauses.append(s)

    async def flush_and_confirm() -> None:
        state = BatchState()
        state.event = Event()  # type: ignore[assignment]
        state.get(table, "t:p1", dict)["n"] = 1  # type: ignore[arg-type]
        state.get(table, "t:p2", dict)["n"] = 2  # type: ignore[arg-type]
        assert await state.flush() == 2
        writes = state.take_written()
        assert [w.key for w in writes] == ["t:p1", "t:p2"]
        await state.confirm("t4", writes, asyncio.Lock(), pause)
        assert state.take_written() == []  # the rewrite was confirmed here, not left to a flush

    asyncio.run(flush_and_confirm())
    # p2's changelog record was refused once: it is written again, and only it
    assert table.puts == [("t:p1", {"n": 1}), ("t:p2", {"n": 2}), ("t:p2", {"n": 2})]
    assert pauses == []  # a refusal is retried at once; only repeated ones back off
    # the partition's persisted offset is recorded once, at the newest record acknowledged
    assert table.persisted_at == [(0, 2)]


def test_a_refused_record_superseded_by_a_newer_write_is_not_written_again() -> None:
    # p1 is flushed twice; the first record is refused after the second was sent
    table = Table([NotLeaderForPartitionError(), None])

    async def pause(s: float) -> None:
        pass

    async def two_flushes() -> None:
        state = BatchState()
        state.event = Event()  # type: ignore[assignment]
        state.get(table, "t:p1", dict)["n"] = 1  # type: ignore[arg-type]
        await state.flush()
        first = state.take_written()
        state.get(table, "t:p1", dict)["n"] = 2  # type: ignore[arg-type]
        await state.flush()
        second = state.take_written()
        await state.confirm("t5", first, asyncio.Lock(), pause)
        await state.confirm("t5", second, asyncio.Lock(), pause)

    asyncio.run(two_flushes())
    # the newer record (n=2) covers the refused one: no rewrite of the older value
    assert table.puts == [("t:p1", {"n": 1}), ("t:p1", {"n": 2})]


def test_peek_sees_what_get_would_and_changes_nothing() -> None:
    table = Table([None])
    table.get = lambda key: {"stored": key} if key == "t:old" else None  # type: ignore[method-assign]

    async def look() -> None:
        state = BatchState(clean_max=10)
        state.event = Event()  # type: ignore[assignment]
        assert state.peek(table, "t:new") is None  # type: ignore[arg-type]
        assert state.peek(table, "t:old") == {"stored": "t:old"}  # type: ignore[arg-type]
        assert state.changed == 0
        state.get(table, "t:p1", dict)["n"] = 1  # type: ignore[arg-type]
        assert state.peek(table, "t:p1") == {"n": 1}  # type: ignore[arg-type]  # unflushed
        assert await state.flush() == 1
        assert state.peek(table, "t:p1") == {"n": 1}  # type: ignore[arg-type]  # cached clean
        assert state.changed == 0

    asyncio.run(look())
    assert table.puts == [("t:p1", {"n": 1})]
