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

# Many writes per call: KEYS are the hashes; ARGV holds, per key in order, the version field,
# the version, the number of field/value arguments that follow, then those arguments. One
# call per chunk instead of one EVALSHA per key: a batch's commands, replies and script runs
# were a seventh of a busy worker's CPU, and Redis's own per-call work shares its cores.
VERSIONED_HSET = """
local applied = {}
local at = 1
for i, key in ipairs(KEYS) do
  local field, incoming, n = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
  local current = redis.call('HGET', key, field)
  local newer = true
  if current then
    if string.len(current) > string.len(incoming) then newer = false
    elseif string.len(current) == string.len(incoming) and current >= incoming then newer = false
    end
  end
  if newer then
    redis.call('HSET', key, field, incoming, unpack(ARGV, at + 3, at + 2 + n))
    applied[i] = 1
  else
    applied[i] = 0
  end
  at = at + 3 + n
end
return applied
"""
CHUNK = 200  # writes per script call: a call blocks Redis while it runs


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
        """One pipeline of one EVALSHA per `CHUNK` writes: one round trip (redis-py's Script
        objects would add a SCRIPT EXISTS round trip to every pipeline)."""
        assert self._sha is not None
        async with self.client.pipeline(transaction=False) as pipe:
            for first in range(0, len(writes), CHUNK):
                chunk = writes[first : first + CHUNK]
                args: list[str | int] = []
                for w in chunk:
                    fields = w.fields
                    assert not callable(fields)
                    args += [w.version_field, str(w.version), 2 * len(fields)]
                    for field, value in fields.items():
                        args += [field, value]
                pipe.evalsha(self._sha, len(chunk), *[w.key for w in chunk], *args)
            replies = await pipe.execute()
        return [applied for reply in replies for applied in reply]

    async def close(self) -> None:
        await self.client.aclose()
