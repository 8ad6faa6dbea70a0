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
    # the version and the fields, or functions computing them: rules emit one write per event
    # but a batch sends only the newest per key, so a model derived from state is computed
    # once, at the end, from that state (its version with it, so the two always match)
    version: int | Callable[[], int]
    fields: Mapping[str, str | int] | Callable[[], Mapping[str, str | int]]
    model: str = ""
    # the fields are part of the hash only (a wallet leg sets its own account's balance):
    # a newer write of the same key in a batch adds to it instead of replacing it
    partial: bool = False

    def resolved(self) -> VersionedWrite:
        if callable(self.fields) or callable(self.version):
            return replace(
                self,
                version=self.version() if callable(self.version) else self.version,
                fields=self.fields() if callable(self.fields) else self.fields,
            )
        return self


def newest(older: VersionedWrite | None, newer: VersionedWrite) -> VersionedWrite:
    """The one write a batch sends for a key: the newer one, carrying the older one's fields
    it does not set when both are partial (a bonus leg and a cash leg of one wallet)."""
    if older is None or not (newer.partial and older.partial):
        return newer
    assert not callable(older.fields) and not callable(newer.fields)
    return replace(newer, fields={**older.fields, **newer.fields})


def model_key(prefix: str, tenant: str, model: str, player: str) -> str:
    """`{prefix}:{tenant}:{model}:{player}`, the contract's key shape (DESIGN.md)."""
    return f"{prefix}:{tenant}:{model}:{player}"
