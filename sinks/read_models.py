"""What a read-model write is: the contract's Redis key shape and a versioned set of fields.

Plain data with no Redis client, so the rules can build writes and the writer
(`sinks/redis_models.py`) can apply them; DESIGN.md's read-model table is the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

DEFAULT_PREFIX = "ws"


@dataclass(frozen=True)
class VersionedWrite:
    key: str
    version_field: str
    version: int
    # the fields, or a function computing them: rules emit one write per event but a batch
    # sends only the newest per key, so expensive read models are computed once, at the end
    fields: Mapping[str, str | int] | Callable[[], Mapping[str, str | int]]
    model: str = ""

    def resolved(self) -> VersionedWrite:
        if callable(self.fields):
            return replace(self, fields=self.fields())
        return self


def model_key(prefix: str, tenant: str, model: str, player: str) -> str:
    """`{prefix}:{tenant}:{model}:{player}`, the contract's key shape (DESIGN.md)."""
    return f"{prefix}:{tenant}:{model}:{player}"
