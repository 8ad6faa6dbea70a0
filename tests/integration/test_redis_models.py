"""The versioned HSET script on a real Redis: older and equal versions never win."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis

from sinks.read_models import VersionedWrite
from sinks.redis_models import ReadModelWriter

pytestmark = pytest.mark.integration


def test_only_newer_versions_apply_even_beyond_2_pow_53(stack, redis_client) -> None:
    key = f"ws:test-{uuid.uuid4().hex}:wallet:p1"
    big = 2**62  # a double would round this and its neighbours to the same number

    async def scenario() -> list[list[bool]]:
        writer = ReadModelWriter(stack.redis, "ws")
        try:
            steps = [
                [VersionedWrite(key, "lsn", big, {"cash_minor": 100})],
                [VersionedWrite(key, "lsn", big - 1, {"cash_minor": 1})],  # older: refused
                [VersionedWrite(key, "lsn", big, {"cash_minor": 2})],  # replay: refused
                [VersionedWrite(key, "lsn", big + 1, {"cash_minor": 300})],
                [VersionedWrite(key, "lsn", 9, {"cash_minor": 4})],  # shorter number: older
            ]
            return [await writer.write(step) for step in steps]
        finally:
            await writer.close()

    assert asyncio.run(scenario()) == [[True], [False], [False], [True], [False]]
    assert redis_client.hgetall(key) == {"lsn": str(big + 1), "cash_minor": "300"}


def test_script_cache_loss_is_survived(stack, redis_client) -> None:
    key = f"ws:test-{uuid.uuid4().hex}:bets:p1"

    async def scenario() -> list[bool]:
        writer = ReadModelWriter(stack.redis, "ws")
        try:
            await writer.write([VersionedWrite(key, "version", 1, {"open_count": 1})])
            # as after a Redis restart (by the operator: the pipeline's user may not flush)
            redis.Redis(port=stack.redis_port).script_flush()
            return await writer.write([VersionedWrite(key, "version", 2, {"open_count": 2})])
        finally:
            await writer.close()

    assert asyncio.run(scenario()) == [True]
    assert redis_client.hget(key, "open_count") == "2"


def test_a_batch_larger_than_one_script_call_keeps_order_and_refusals(stack, redis_client) -> None:
    """450 writes span three script calls (`CHUNK` 200): each write's result comes back in its
    place, refusals included, and a write with no fields sets only the version."""
    prefix = f"ws:test-{uuid.uuid4().hex}:rg"
    keys = [f"{prefix}:p{i}" for i in range(450)]

    async def scenario() -> tuple[list[bool], list[bool]]:
        writer = ReadModelWriter(stack.redis, "ws")
        try:
            first = await writer.write(
                [VersionedWrite(k, "version", 10, {"n": i}) for i, k in enumerate(keys)]
            )
            second = await writer.write(
                [
                    VersionedWrite(
                        k,
                        "version",
                        11 if i % 2 else 9,
                        {} if i == 449 else {"n": i + 1000, "extra": "x"},
                    )
                    for i, k in enumerate(keys)
                ]
            )
            return first, second
        finally:
            await writer.close()

    first, second = asyncio.run(scenario())
    assert first == [True] * 450
    assert second == [i % 2 == 1 for i in range(450)]
    assert redis_client.hgetall(keys[0]) == {"version": "10", "n": "0"}
    assert redis_client.hgetall(keys[201]) == {"version": "11", "n": "1201", "extra": "x"}
    assert redis_client.hgetall(keys[448]) == {"version": "10", "n": "448"}
    assert redis_client.hgetall(keys[449]) == {"version": "11", "n": "449"}
