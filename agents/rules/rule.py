"""The one shape every rule has, and what a rule sees of the world while it judges one event.

A rule is a module with a `RULE`: the part of a player's state it owns, a handler per event
type it cares about, its read model and its pruning. The player agent routes an event to the
handlers of its type through one table (`agents.rules.player.ROUTES`), so adding a rule is one
file plus one row in `agents.rules.player.RULES`; nothing compares event-type strings.

Everything a handler may need beyond the player's state comes in `Context`: resolved
configuration, the clock the worker runs on, where the event came from, and a way to ask
whether the worker has read far enough on the other topics. Handlers emit signals through
`Context.emitter` and hand records for other topics to `Context.records`; they do no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.rules.config import RiskConfig, RuleConfig
from agents.rules.signals import Emitter, Signal

State = dict[str, Any]
Event = dict[str, Any]
# (partition, produce time ms) of a record: has this worker handled everything before it?
ReadPast = Callable[[int, float], bool]


@dataclass(frozen=True)
class Record:
    """A plain record for another topic (a repartition), encoded by the agent."""

    topic: str
    key: str
    value: dict[str, Any]


@dataclass
class Context:
    """One event of one player, as the rules see it."""

    event: Event
    cfg: RuleConfig
    risk: RiskConfig
    fired: dict[str, int]
    wall_ms: int
    high_ms: int = 0  # the newest event time of the player
    seq: int | None = None  # the player's event sequence number, this event included
    currency: str = "EUR"
    source: tuple[int, float] | None = None
    read_past: ReadPast | None = None
    first_seen: bool = True  # the first event of its payment id (any status)
    records: list[Record] = field(default_factory=list)
    _emitters: dict[str, Emitter] = field(default_factory=dict)

    def emitter(self, topic: str) -> Emitter:
        """The emitter of `topic` for this event (one per topic, sharing the fired memory)."""
        found = self._emitters.get(topic)
        if found is None:
            found = self._emitters[topic] = Emitter(self.fired, topic, self.event, self.high_ms)
        return found

    def signals(self, topics: tuple[str, ...]) -> list[Signal]:
        """Signals emitted so far, in the order of `topics`."""
        return [s for t in topics if t in self._emitters for s in self._emitters[t].signals]


Handler = Callable[[Context, State, Event], None]


def _no_prune(state: State, now_ms: int) -> None:
    return None


@dataclass(frozen=True)
class Rule:
    """A rule: `name` is its slot in the player's state and its read model's name; `topic`
    the signal topic it emits on (None: it emits records only)."""

    name: str
    topic: str | None
    new_state: Callable[[], State]
    handlers: Mapping[str, Handler]
    read_model: Callable[[State, int, RuleConfig, RiskConfig], dict[str, str | int]]
    prune: Callable[[State, int], None] = _no_prune
    # runs after the handlers of every event the player gets (deferred judgements)
    after: Handler | None = None
    # whether the player has this read model at all (a player who never had a bonus has none)
    has_model: Callable[[State], bool] = lambda st: True
