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
