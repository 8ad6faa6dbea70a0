"""Every topic of the event contract (../shared/DESIGN.md), in one table.

Player-keyed topics all get the same partition count (WAGERSTREAM_TOPIC_PARTITIONS) so that one
worker owns
every piece of a player's state: Kafka's default partitioner hashes the same key to the same
partition number on every topic of equal size, and Faust's table changelogs follow the source
partition. Changing one topic's count alone would silently split a player's state, so `topics
create` refuses to "fix" a mismatch and reports it instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from foundation.units import DAY_MS


@dataclass(frozen=True)
class TopicSpec:
    name: str
    schema: str | None  # stem of the .avsc file in schemas/avro/, None for raw bytes
    key: str = "player_id"
    player_keyed: bool = True
    # upstream events carry the common fields (event_id, tenant_id, …) and get the contract
    # checks of wagerstream/contract.py; our own topics (CDC, signals) are trusted producers
    upstream: bool = True
    retention_days: int = 7
    config: dict[str, str] = field(default_factory=dict)

    def topic_config(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_days * DAY_MS), **self.config}


def dlq_topic(topic: str) -> str:
    return f"dlq.{topic}"


_UPSTREAM = [
    TopicSpec("bet.placed", "bet_placed"),
    TopicSpec("bet.settled", "bet_settled"),
    TopicSpec("payment.deposit", "payment_deposit"),
    TopicSpec("payment.withdrawal", "payment_withdrawal"),
    TopicSpec("player.session", "player_session"),
    # Limits are the player's current truth: compact so a restarted worker can rebuild them,
    # but keep deletes (null amount) long enough for every consumer to see them.
    TopicSpec(
        "player.limit",
        "player_limit",
        retention_days=365,
        config={"cleanup.policy": "compact,delete", "min.compaction.lag.ms": str(DAY_MS)},
    ),
    # The CDC stream is replayed to rebuild marts and projections: keep it a month.
    TopicSpec("ledger.cdc", "ledger_cdc", upstream=False, retention_days=30),
]
SIGNAL_TOPICS = ("limits.breach", "rg.signal", "aml.alert", "settlement.alert")
_SIGNALS = [TopicSpec(name, "signal", upstream=False, retention_days=90) for name in SIGNAL_TOPICS]
# Per-player outputs that are not signals: each bonus's wagering progress (agents/rules/wagering.py)
BONUS_WAGERING = "bonus.wagering"
_OUTPUTS = [TopicSpec(BONUS_WAGERING, "bonus_wagering", upstream=False, retention_days=90)]
# Internal topics: ours alone, not part of the contract (they may change between releases).
INSTRUMENT_USES = "wagerstream.instrument-uses"
INSTRUMENT_HITS = "wagerstream.instrument-hits"
BET_TICKS = "wagerstream.bet-ticks"
_INTERNAL = [
    # keyed by "{tenant}:{instrument_hash}": the repartition that brings an instrument's
    # players together (the shared-instrument rule)
    TopicSpec(
        INSTRUMENT_USES,
        "instrument_use",
        key="instrument",
        player_keyed=False,
        upstream=False,
        retention_days=7,
    ),
    TopicSpec(INSTRUMENT_HITS, "instrument_hit", upstream=False, retention_days=7),
    TopicSpec(BET_TICKS, "bet_tick", upstream=False, retention_days=1),
]
INPUT_TOPICS: tuple[str, ...] = tuple(t.name for t in _UPSTREAM)
CONSUMED_TOPICS: tuple[str, ...] = (*INPUT_TOPICS, *(t.name for t in _INTERNAL))
# What the ClickHouse sink turns into fact rows (its own consumer group).
FACT_TOPICS: tuple[str, ...] = (
    "ledger.cdc",
    "bet.placed",
    "bet.settled",
    "payment.deposit",
    "payment.withdrawal",
    *SIGNAL_TOPICS,
    BONUS_WAGERING,
)
_DLQ = [
    TopicSpec(dlq_topic(name), None, retention_days=30, config={"cleanup.policy": "delete"})
    for name in CONSUMED_TOPICS
]

CATALOGUE: dict[str, TopicSpec] = {
    t.name: t for t in (*_UPSTREAM, *_SIGNALS, *_OUTPUTS, *_INTERNAL, *_DLQ)
}


def spec(topic: str) -> TopicSpec:
    try:
        return CATALOGUE[topic]
    except KeyError:
        raise KeyError(f"{topic!r} is not in the topic catalogue (topics/catalogue.py)") from None
