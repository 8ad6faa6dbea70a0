"""Settlement wiring: each player's book of open bets in the `open_bets` table, the `bets`
read model and the settle-lag histograms; the rules are in `agents/rules/settlement.py`.

Placements and settlements come from two topics (co-partitioned by player, so one worker sees
both halves of every bet); the book is keyed by (tenant, player) because player ids are only
unique within a tenant. `{prefix}:{tenant}:bets:{player}` is versioned by
`state_version(seq)`: within one owner the book's sequence orders the writes, and a new owner
(restart or rebalance) outranks whatever the previous one wrote.
"""

from __future__ import annotations

import time
from typing import Any, cast

from agents import statecodec
from agents.app import app, settings, state_version
from agents.metrics import SETTLE_AFTER_START, SETTLE_LAG
from agents.rules import settlement
from agents.rules.config import RiskConfig
from agents.rules.signals import Signal
from agents.runner import BatchState, Outcome
from sinks.read_models import VersionedWrite, model_key

open_bets = statecodec.state_table(
    app.Table(
        "open_bets",
        partitions=settings.topic_partitions,
        options=statecodec.store_options(
            settings.worker_rocksdb_write_buffer_mb, settings.worker_rocksdb_block_cache_mb
        ),
        help="Per player: open bets, recently settled bet ids, sequence.",
    )
)


def handle(
    batch: BatchState, stem: str, record: dict[str, Any], risk: RiskConfig
) -> tuple[Outcome, list[Signal]]:
    tenant, player = record["tenant_id"], record["player_id"]
    book = batch.get(open_bets, f"{tenant}:{player}", settlement.new_book)
    change = settlement.apply(book, stem, record, risk, settings.settled_memory_ms)
    lag = change.lag
    if lag is not None:
        SETTLE_LAG.labels(lag.product, lag.provider).observe(lag.lag_ms / 1000)
        if lag.after_start_ms is not None:
            SETTLE_AFTER_START.labels(lag.provider).observe(lag.after_start_ms / 1000)
    # A bet event that changed nothing is mostly a replay after a crash: the state it finds
    # may have reached its changelog while the read model written after it did not, so the
    # model is written again from the state (a newer worker's version wins; the same worker's
    # equal version is refused by Redis, so a true upstream duplicate costs one round trip).
    writes = (
        [bets_write(batch, book, tenant, player)] if change.changed or stem != "bet_tick" else []
    )
    return Outcome(writes=writes), change.signals


def bets_write(batch: BatchState, book: dict[str, Any], tenant: str, player: str) -> VersionedWrite:
    """The `bets` read model, computed from the book when the batch resolves its writes; one
    write per player per batch, handed out again for the player's next bet event."""
    write = batch.once_per_batch(("bets", tenant, player), book, _bets_write, book, tenant, player)
    return cast(VersionedWrite, write)


def _bets_write(book: dict[str, Any], tenant: str, player: str) -> VersionedWrite:
    return VersionedWrite(
        key=model_key(settings.redis_prefix, tenant, "bets", player),
        version_field="version",
        version=lambda: state_version(book["seq"]),
        fields=lambda: settlement.read_model(book),
        model="bets",
    )


def quiet_players_with_stuck_bets(risk: RiskConfig, limit: int = 10_000) -> list[tuple[str, str]]:
    """(tenant, player) of this worker's partitions with a bet past its deadline by the wall
    clock and not yet signalled: the timer sends each a tick."""
    now = int(time.time() * 1000)
    found = []
    for book in open_bets.values():
        if settlement.has_unsignalled_stuck_bet(book, now, risk):
            found.append((book["who"][0], book["player"]))
            if len(found) >= limit:
                break
    return found
