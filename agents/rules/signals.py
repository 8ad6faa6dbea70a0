"""Signals (limit breaches, RG markers, AML alerts, stuck bets) and their once-only rule.

A signal fires once per (player, code, window). Two mechanisms make that hold:
* the player's state remembers what fired (`fired`, pruned after the window's lifetime), so
  replayed or duplicated input does not fire again;
* the `signal_id` is a UUID derived from (tenant, player, code, window), so if a crash loses
  the state update after the signal was produced, the re-emitted signal has the same id and
  every sink (ClickHouse `signals`, downstream consumers) collapses the two.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

SIGNAL_NAMESPACE = uuid.UUID("6f1c8a52-3d0e-4b7e-9a55-0c2f1e7d9b31")
MAX_EVIDENCE = 50


@dataclass(frozen=True)
class Signal:
    topic: str
    code: str
    window: str
    severity: str
    player_id: str
    tenant_id: str
    brand_id: str
    jurisdiction: str
    occurred_at: int
    value_minor: int | None = None
    threshold_minor: int | None = None
    evidence: tuple[str, ...] = field(default_factory=tuple)
    trace_id: str | None = None

    @property
    def signal_id(self) -> str:
        name = f"{self.tenant_id}|{self.player_id}|{self.code}|{self.window}"
        return str(uuid.uuid5(SIGNAL_NAMESPACE, name))

    def record(self) -> dict[str, Any]:
        """The `signal.avsc` record."""
        return {
            "signal_id": self.signal_id,
            "player_id": self.player_id,
            "tenant_id": self.tenant_id,
            "brand_id": self.brand_id,
            "jurisdiction": self.jurisdiction,
            "code": self.code,
            "severity": self.severity,
            "value_minor": self.value_minor,
            "threshold_minor": self.threshold_minor,
            "window": self.window,
            "evidence": list(self.evidence[-MAX_EVIDENCE:]),
            "occurred_at": self.occurred_at,
            "trace_id": self.trace_id,
        }


class Emitter:
    """Collects the signals of one event for one player, skipping those already fired.

    `fired` is the player's state dict {"code|window": forget_after_ms}; an entry is kept until
    its window can no longer recur, then pruned so state stays bounded.
    """

    def __init__(
        self, fired: dict[str, int], topic: str, event: dict[str, Any], high_ms: int = 0
    ) -> None:
        self.fired = fired
        self.topic = topic
        self.event = event
        # how far behind the player's newest event this one is: a back-dated window is
        # remembered as long after it was judged as a current one (pruning runs by the newest)
        self.late_ms = max(0, high_ms - event["occurred_at"])
        self.signals: list[Signal] = []

    def has_fired(self, code: str, window: str) -> bool:
        return f"{code}|{window}" in self.fired

    def fire(
        self,
        code: str,
        window: str,
        severity: str,
        forget_after_ms: int,
        value_minor: int | None = None,
        threshold_minor: int | None = None,
        evidence: list[str] | tuple[str, ...] = (),
        occurred_at: int | None = None,
    ) -> bool:
        """Emit unless (code, window) fired before; True when emitted now."""
        key = f"{code}|{window}"
        if key in self.fired:
            return False
        self.fired[key] = forget_after_ms + self.late_ms
        event = self.event
        self.signals.append(
            Signal(
                topic=self.topic,
                code=code,
                window=window,
                severity=severity,
                player_id=event["player_id"],
                tenant_id=event["tenant_id"],
                brand_id=event["brand_id"],
                jurisdiction=event["jurisdiction"],
                occurred_at=event["occurred_at"] if occurred_at is None else occurred_at,
                value_minor=value_minor,
                threshold_minor=threshold_minor,
                evidence=tuple(evidence),
                trace_id=event.get("trace_id"),
            )
        )
        return True


def prune_fired(fired: dict[str, int], now_ms: int) -> None:
    for key in [k for k, forget_after in fired.items() if forget_after < now_ms]:
        del fired[key]
