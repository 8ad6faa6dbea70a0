"""Settlement: open bets per player, the `bets` read model, settle-lag histograms, stuck bets.

Placements and settlements come from two topics (co-partitioned by player, so one worker sees
both halves of every bet); each player's book lives in the `open_bets` table (RocksDB +
compacted changelog), keyed by (tenant, player) because player ids are only unique within a
tenant. `{prefix}:{tenant}:bets:{player}` is versioned by `state_version(seq)`:
within one owner the book's sequence orders the writes, and a new owner (restart or
rebalance) outranks whatever the previous one wrote.

A bet is stuck when it is still open `stuck_after_hours` after its event started (sportsbook)
or after it was placed (other products). The check runs at the player's events (event time),
and a timer sends a tick through `wagerstream.bet-ticks` for players who went quiet, so the
check, and the table update that remembers the signal, happen inside the player's own stream.
"""

from __future__ import annotations

import time
from typing import Any

from agents.open_bets import (
    EVENT_START,
    PLACED_AT,
    STAKE,
    apply_placed,
    apply_settled,
    new_book,
    totals,
)
from agents.riskconfig import RiskConfig
from agents.runner import BatchState, Outcome
from agents.signals import Emitter, Signal, prune_fired
from agents.windows import DAY_MS, HOUR_MS
from sinks.metrics import SETTLE_AFTER_START, SETTLE_LAG
from sinks.redis_models import VersionedWrite, model_key
from wagerstream import statecodec
from wagerstream.app import app, settings, state_version
from wagerstream.serde import LoadedSchema

TOPIC = "settlement.alert"
SCAN_EVERY_MS = 60_000
open_bets = statecodec.state_table(
    app.Table(
        "open_bets",
        partitions=settings.topic_partitions,
        help="Per player: open bets, recently settled bet ids, sequence.",
    )
)


def _started(entry: list[Any]) -> int:
    start = entry[EVENT_START]
    return entry[PLACED_AT] if start is None else start


def stuck_signals(book: dict[str, Any], now: int, risk: RiskConfig) -> list[Signal]:
    """Signals for open bets past their stuck deadline, each bet once (`book["fired"]`)."""
    who = book.get("who")
    if who is None or not book["open"]:
        return []
    tenant, brand, jurisdiction = who
    after_ms = int(risk.rules(tenant, jurisdiction).settlement.stuck_after_hours * HOUR_MS)
    fired = book.setdefault("fired", {})
    prune_fired(fired, now)
    subject = {
        "player_id": book["player"],
        "tenant_id": tenant,
        "brand_id": brand,
        "jurisdiction": jurisdiction,
        "occurred_at": now,
    }
    emit = Emitter(fired, TOPIC, subject)
    for bet_id, entry in sorted(book["open"].items()):
        started = _started(entry)
        if now - started > after_ms:
            emit.fire(
                "stuck_bet",
                f"bet:{bet_id}",
                "medium",
                forget_after_ms=now + 30 * DAY_MS,
                value_minor=entry[STAKE],
                threshold_minor=None,
                evidence=[bet_id],
            )
    book["scanned"] = now
    return emit.signals


def stuck_count(book: dict[str, Any]) -> int:
    """Open bets already signalled as stuck (the `bets` read model shows them)."""
    fired = book.get("fired", {})
    return sum(f"stuck_bet|bet:{bet_id}" in fired for bet_id in book["open"])


def handle(
    batch: BatchState, schema: LoadedSchema, record: dict[str, Any], risk: RiskConfig
) -> tuple[Outcome, list[Signal]]:
    player = record["player_id"]
    book = batch.get(open_bets, f"{record['tenant_id']}:{player}", new_book)
    now = record["occurred_at"]
    if schema.stem == "bet_tick":
        signals = stuck_signals(book, now, risk)
        if not signals:
            return Outcome(), []
        book["seq"] += 1  # the read model changes (stuck_count): a newer version
        return Outcome(writes=[_bets_write(book, record["tenant_id"], player)]), signals
    book["player"] = player
    book["who"] = [record["tenant_id"], record["brand_id"], record["jurisdiction"]]
    memory = settings.settled_memory_ms
    if schema.stem == "bet_placed":
        lag = apply_placed(book, record, memory)
    else:
        lag = apply_settled(book, record, memory)
    if lag is not None:
        SETTLE_LAG.labels(lag.product, lag.provider).observe(lag.lag_ms / 1000)
        if lag.after_start_ms is not None:
            SETTLE_AFTER_START.labels(lag.provider).observe(lag.after_start_ms / 1000)
    signals = []
    if now - book.get("scanned", 0) >= SCAN_EVERY_MS:
        signals = stuck_signals(book, now, risk)
    return Outcome(writes=[_bets_write(book, record["tenant_id"], player)]), signals


def _bets_write(book: dict[str, Any], tenant: str, player: str) -> VersionedWrite:
    count, stake = totals(book)
    return VersionedWrite(
        key=model_key(settings.redis_prefix, tenant, "bets", player),
        version_field="version",
        version=state_version(book["seq"]),
        fields={"open_count": count, "open_stake_minor": stake, "stuck_count": stuck_count(book)},
        model="bets",
    )


def quiet_players_with_stuck_bets(risk: RiskConfig, limit: int = 10_000) -> list[tuple[str, str]]:
    """(tenant, player) of this worker's partitions with a bet past its deadline by the wall
    clock and not yet signalled: the timer sends each a tick."""
    now = int(time.time() * 1000)
    found = []
    for book in open_bets.values():
        who = book.get("who")
        if who is None or not book["open"]:
            continue
        after_ms = int(risk.rules(who[0], who[2]).settlement.stuck_after_hours * HOUR_MS)
        fired = book.get("fired", {})
        if any(
            now - _started(entry) > after_ms and f"stuck_bet|bet:{bet_id}" not in fired
            for bet_id, entry in book["open"].items()
        ):
            found.append((who[0], book["player"]))
            if len(found) >= limit:
                break
    return found
