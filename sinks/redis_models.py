"""CQRS read models in Redis, written so that a replayed or reordered event can never win.

Every write carries the version it derives from (the ledger's commit LSN, or a per-player
sequence kept in the worker's table) and one Lua script applies it only when that version is
newer than the one stored in the hash. Versions are compared as decimal strings (length first,
then lexically) because Lua numbers are doubles and would round 64-bit LSNs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from sinks.metrics import SINK_LATENCY, STALE_WRITES
from sinks.read_models import VersionedWrite

VERSIONED_HSET = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local incoming = ARGV[2]
if current then
  if string.len(current) > string.len(incoming) then return 0 end
  if string.len(current) == string.len(incoming) and current >= incoming then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], incoming, unpack(ARGV, 3))
return 1
"""


class ReadModelWriter:
    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        self.client = aioredis.from_url(url, decode_responses=True)
        self._sha: str | None = None

    async def write(self, writes: Iterable[VersionedWrite]) -> list[bool]:
        """Apply a batch in one round trip; returns which writes were newer and applied."""
        writes = list(writes)
        if not writes:
            return []
        started = time.perf_counter()
        if self._sha is None:
            self._sha = await self.client.script_load(VERSIONED_HSET)
        try:
            results = await self._send(writes)
        except NoScriptError:  # Redis restarted and lost its script cache
            self._sha = await self.client.script_load(VERSIONED_HSET)
            results = await self._send(writes)
        SINK_LATENCY.labels("redis").observe(time.perf_counter() - started)
        applied = [bool(r) for r in results]
        for w, ok in zip(writes, applied, strict=True):
            if not ok:
                STALE_WRITES.labels(w.model).inc()
        return applied

    async def _send(self, writes: list[VersionedWrite]) -> list[int]:
        """One pipeline of EVALSHA calls: one round trip (redis-py's Script objects would add
        a SCRIPT EXISTS round trip to every pipeline)."""
        assert self._sha is not None
        async with self.client.pipeline(transaction=False) as pipe:
            for w in writes:
                args: list[str | int] = [w.version_field, str(w.version)]
                for field, value in w.fields.items():
                    args += [field, value]
                pipe.evalsha(self._sha, 1, w.key, *args)
            return await pipe.execute()

    async def close(self) -> None:
        await self.client.aclose()
