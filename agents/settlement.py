"""Settlement agent: open bets per player, the `bets` read model, and settle-lag histograms.

Consumes bet.placed and bet.settled together (co-partitioned by player, so one worker sees
both halves of every bet), keeps each player's book in the `open_bets` table (RocksDB +
compacted changelog) and writes `{prefix}:{tenant}:bets:{player}` versioned by
`state_version(seq)`: within one owner the book's sequence orders the writes, and a new owner
(restart or rebalance) outranks whatever the previous one wrote.
"""

from __future__ import annotations

from typing import Any

import faust

from agents.open_bets import apply_placed, apply_settled, new_book, totals
from agents.runner import run_batched_agent
from sinks.metrics import SETTLE_AFTER_START, SETTLE_LAG
from sinks.redis_models import VersionedWrite, model_key
from wagerstream.app import app, input_topic, settings, state_version
from wagerstream.serde import LoadedSchema

bets_topic = input_topic("bet.placed", "bet.settled")
open_bets = app.Table(
    "open_bets",
    partitions=settings.topic_partitions,
    help="Per player: open bets, recently settled bet ids, sequence.",
)


def handle(schema: LoadedSchema, record: dict[str, Any]) -> list[VersionedWrite]:
    memory = settings.settled_memory_ms
    player = record["player_id"]
    book = open_bets.get(player) or new_book()
    if schema.stem == "bet_placed":
        lag = apply_placed(book, record, memory)
    else:
        lag = apply_settled(book, record, memory)
    open_bets[player] = book
    if lag is not None:
        SETTLE_LAG.labels(lag.product, lag.provider).observe(lag.lag_ms / 1000)
        if lag.after_start_ms is not None:
            SETTLE_AFTER_START.labels(lag.provider).observe(lag.after_start_ms / 1000)
    count, stake = totals(book)
    return [
        VersionedWrite(
            key=model_key(settings.redis_prefix, record["tenant_id"], "bets", player),
            version_field="version",
            version=state_version(book["seq"]),
            fields={"open_count": count, "open_stake_minor": stake},
            model="bets",
        )
    ]


@app.agent(bets_topic)
async def settlement(stream: faust.StreamT) -> None:
    await run_batched_agent("settlement", stream, handle)
