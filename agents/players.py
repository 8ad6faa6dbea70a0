"""The player agent: every player-keyed topic decoded once, then the rules (limits, RG, AML,
settlement) and the wallet projection, in one batch loop.

One agent instead of one per concern because each concern needs most topics (a deposit
matters to limits, RG and AML alike): decoding every event once and writing each player's
state once per batch is most of the worker's speed. The rules are plain functions in
`agents/rules/`, routed by event type (`agents.rules.player.ROUTES`); this module turns their
outcomes into table writes, signals, repartitioned records and read-model writes.

Its timers wake players who went quiet: a bet past its stuck deadline, or a withdrawal
request still waiting for its rapid in/out judgement, gets a tick through
`wagerstream.bet-ticks`, so the judgement happens inside the player's own stream.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import faust
from faust.types import TP

from agents import settlement, statecodec
from agents.app import RISK, app, guarded_timer, input_topic, serde, settings, state_version
from agents.instruments import instrument_players
from agents.metrics import CONSUMER_LAG, DUPLICATES, SIGNALS, SNAPSHOT_ROWS, TABLE_KEYS
from agents.rules import aml
from agents.rules import player as rules
from agents.rules import settlement as settlement_rules
from agents.rules.projections import wallet_writes
from agents.rules.rule import Record, Rule
from agents.rules.signals import Signal
from agents.runner import BatchState, Outcome, Progress, Send, run_batched_agent
from sinks.read_models import VersionedWrite, model_key
from topics.catalogue import BET_TICKS, INPUT_TOPICS, INSTRUMENT_HITS
from topics.serde import DecodeError, LoadedSchema

log = logging.getLogger(__name__)
HIGHWATER_FRESH_MS = 3000
LEDGER_STEMS = {"cash": "ledger_cdc", "bonus": "ledger_bonus"}
TICK_AGAIN_S = max(600.0, 10 * settings.stuck_scan_s)

player_topic = input_topic(*INPUT_TOPICS, INSTRUMENT_HITS, BET_TICKS)
player_risk = statecodec.state_table(
    app.Table(
        "player_risk",
        partitions=settings.topic_partitions,
        options=statecodec.store_options(
            settings.worker_rocksdb_write_buffer_mb, settings.worker_rocksdb_block_cache_mb
        ),
        help="Per (tenant, player): limits, RG and AML state, fired signals, recent event ids.",
    )
)


class Wakeups:
    """Players this worker should tick: in memory only, because after a restart the player's
    next event (or the next scan of the table) finds them again.

    `ticked`: (tenant, player) → wall s of the last stuck-bet tick, so a player is ticked
    again only after TICK_AGAIN_S (while the worker is behind, its ticks wait in the topic and
    re-sending every scan would flood it). `awaiting`: (tenant, player) → wall ms since a
    withdrawal request waits for its grace period.
    """

    def __init__(self) -> None:
        self.ticked: dict[tuple[str, str], float] = {}
        self.awaiting: dict[tuple[str, str], int] = {}
        # the consumer generation whose partitions were last scanned for waiting requests:
        # after a restart or a rebalance the new owner's memory has none of them
        self.scanned_generation: int | None = None
        self.generation: int | None = None


PROGRESS = Progress()
WAKEUPS = Wakeups()


def _sends(signals: list[Signal], records: list[Record]) -> list[Send]:
    sends = []
    for signal in signals:
        SIGNALS.labels(signal.topic, signal.code, signal.jurisdiction).inc()
        sends.append(
            Send(
                signal.topic, signal.player_id.encode(), serde.encode(signal.topic, signal.record())
            )
        )
    for record in records:
        sends.append(
            Send(record.topic, record.key.encode(), serde.encode(record.topic, record.value))
        )
    return sends


def _read_models(
    batch: BatchState, st: dict[str, Any], event: dict[str, Any]
) -> list[VersionedWrite]:
    """The player's risk read models, computed when the batch resolves its writes, from the
    state at that point. A player's next event in the same batch gets the same writes back
    (they already compute from the newest state), unless a model appeared meanwhile (a first
    bonus): building them once per player per batch instead of once per event."""
    tenant, player = event["tenant_id"], event["player_id"]
    models = tuple(rule.name for rule in rules.RULES if rule.has_model(st[rule.name]))
    slot = ("risk", tenant, player, models)
    latest, writes = batch.once_per_batch(slot, st, _risk_writes, st, tenant, player, models)
    latest[0] = event
    return cast(list[VersionedWrite], writes)


def _risk_writes(
    st: dict[str, Any], tenant: str, player: str, models: tuple[str, ...]
) -> tuple[list[dict[str, Any]], list[VersionedWrite]]:
    """The writes of `models`, and the cell their fields read the newest event from (its
    jurisdiction's rules)."""
    latest: list[dict[str, Any]] = [{}]

    def fields(rule: Rule) -> dict[str, str | int]:
        last = latest[0]
        now = max(last["occurred_at"], st["high"])
        return rule.read_model(st[rule.name], now, RISK.rules(tenant, last["jurisdiction"]), RISK)

    def version() -> int:
        return state_version(st["seq"])

    return latest, [
        VersionedWrite(
            model_key(settings.redis_prefix, tenant, rule.name, player),
            "version",
            version,
            lambda rule=rule: fields(rule),
            model=rule.name,
        )
        for rule in rules.RULES
        if rule.name in models
    ]


def _env(batch: BatchState) -> rules.Env:
    message = batch.event.message if batch.event is not None else None
    return rules.Env(
        risk=RISK,
        dedup_memory_ms=settings.dedup_memory_ms,
        wall_ms=int(time.time() * 1000),
        source=None if message is None else (message.partition, message.timestamp * 1000),
        read_past=read_past,
    )


def _bets(batch: BatchState, stem: str, record: dict[str, Any]) -> Outcome:
    outcome, signals = settlement.handle(batch, stem, record, RISK)
    if stem == "bet_tick":
        tenant, player = record["tenant_id"], record["player_id"]
        st = batch.get(player_risk, f"{tenant}:{player}", rules.new_player)
        signals += rules.judge_on_tick(st, tenant, player, record["occurred_at"], RISK, read_past)
        if rules.awaiting_judgement(st):  # still behind on those partitions: look again later
            WAKEUPS.awaiting[(tenant, player)] = record["occurred_at"]
    outcome.sends.extend(_sends(signals, []))
    return outcome


def _rules(
    batch: BatchState, stem: str, tenant: str, player: str, record: dict[str, Any]
) -> Outcome:
    """The player rules' effect of one event: signals, records, read models."""
    outcome = Outcome()
    WAKEUPS.generation = app.consumer_generation_id  # handling: this generation's tables are ready
    st = batch.get(player_risk, f"{tenant}:{player}", rules.new_player)
    event = rules.ledger_event(record, st) if stem in rules.LEDGER_HIGH else record
    env = _env(batch)
    applied = rules.apply_event(st, stem, event, env)
    if applied is None:
        DUPLICATES.labels(stem).inc()
        # a replay after a crash: the read models may have missed the state it found (see
        # agents/settlement.py), so they are written again from it; and a withdrawal request
        # the state still holds for judgement needs a wake-up again, since the in-memory
        # wake-ups died with the old process (a busy chaos run missed one rapid in/out)
        outcome.writes.extend(_read_models(batch, st, event))
        if rules.awaiting_judgement(st):
            WAKEUPS.awaiting.setdefault((tenant, player), env.wall_ms)
        return outcome
    signals, records = applied
    if rules.awaiting_judgement(st):
        WAKEUPS.awaiting[(tenant, player)] = env.wall_ms
    outcome.sends.extend(_sends(signals, records))
    outcome.writes.extend(_read_models(batch, st, event))
    return outcome


def _ledger(batch: BatchState, schema: LoadedSchema, record: dict[str, Any]) -> Outcome:
    outcome = Outcome(writes=wallet_writes(schema, record, settings.redis_prefix))
    entry = record["after"]
    # Only player legs matter to the rules (cash: loss chasing; bonus: wagering).
    if entry is None or not entry["player_id"]:
        return outcome
    stem = LEDGER_STEMS.get(entry["account_kind"])
    if stem is None:
        return outcome
    if record["op"] == "r":
        st = batch.peek(player_risk, f"{entry['tenant_id']}:{entry['player_id']}")
        verdict = rules.snapshot_verdict(st, stem, entry["entry_id"])
        SNAPSHOT_ROWS.labels(verdict).inc()
        if verdict != "judged":
            return outcome
    ruled = _rules(batch, stem, entry["tenant_id"], entry["player_id"], record)
    outcome.writes.extend(ruled.writes)
    outcome.sends.extend(ruled.sends)
    return outcome


def handle(batch: BatchState, schema: LoadedSchema, record: dict[str, Any]) -> Outcome:
    stem = schema.stem
    currency = record.get("currency")
    if currency is not None and currency not in RISK.fx.rates:
        # refused before any state changes: half-applied state would outlive the DLQ record
        raise DecodeError(
            "unsupported_currency",
            f"no FX rate for {currency} in the risk config: add it under [fx] "
            f"(WAGERSTREAM_RISK_CONFIG), "
            "then replay the dead letter",
        )
    if stem == "ledger_cdc":
        return _ledger(batch, schema, record)
    if stem not in settlement_rules.STEMS:
        return _rules(batch, stem, record["tenant_id"], record["player_id"], record)
    outcome = _bets(batch, stem, record)
    if stem != "bet_tick":
        ruled = _rules(batch, stem, record["tenant_id"], record["player_id"], record)
        outcome.writes.extend(ruled.writes)
        outcome.sends.extend(ruled.sends)
    return outcome


def read_past(partition: int, produced_ms: float) -> bool:
    """On `partition` of each topic the rapid in/out judgement needs, this worker has handled a
    record produced after `produced_ms`, or everything the partition holds
    (`partition_read_past`)."""
    consumer = app.consumer
    for topic in aml.WATERMARK_TOPICS:
        tp = TP(topic, partition)
        try:
            high = consumer.highwater(tp)
            polled = consumer.highwater_polled_ms(tp)
        except Exception:  # not assigned here or not fetched yet: not ready
            return False
        seen = PROGRESS.watermark(topic, partition)
        handled = PROGRESS.handled_offset(topic, partition)
        if not partition_read_past(seen, handled, high, polled, produced_ms):
            return False
    return True


def partition_read_past(
    watermark_ms: float, handled: int, high: int | None, polled_ms: int | None, produced_ms: float
) -> bool:
    """Whether a partition holds nothing produced before `produced_ms` that is unhandled: a
    record produced after it was handled (`watermark_ms`), or every record up to the high-water
    mark was handled, not merely read (the stream buffer can hold the player's stakes). A
    high-water mark is only as fresh as the fetch that brought it (`polled_ms`), and a fetcher
    that paused the partition (a full stream buffer on a busy machine) keeps an old one, so it
    counts only when fetched `HIGHWATER_FRESH_MS` after the request was produced: the margin
    covers clock skew and stakes produced just before the request but appended after it. (The
    request's age alone was the test before; a busy demo in CI signalled a player whose stakes
    were still unfetched.)"""
    if watermark_ms > produced_ms:
        return True
    if high is None or polled_ms is None or polled_ms < produced_ms + HIGHWATER_FRESH_MS:
        return False
    return handled + 1 >= high


@app.agent(player_topic)
async def players(stream: faust.StreamT) -> None:
    await run_batched_agent("players", stream, handle, PROGRESS)


async def _tick(tenant: str, player: str, wall: float) -> None:
    tick = {"player_id": player, "tenant_id": tenant, "occurred_at": int(wall * 1000)}
    await app.topic(BET_TICKS).send(key=player.encode(), value=serde.encode(BET_TICKS, tick))


@guarded_timer(interval=settings.stuck_scan_s)
async def scan_for_stuck_bets() -> None:
    """Wake players who went quiet with a bet past its deadline, or with a withdrawal request
    waiting for its rapid in/out judgement."""
    wall = time.time()
    for ticked, at in list(WAKEUPS.ticked.items()):
        if wall - at > TICK_AGAIN_S:
            del WAKEUPS.ticked[ticked]
    for tenant, player in settlement.quiet_players_with_stuck_bets(RISK):
        if (tenant, player) in WAKEUPS.ticked:
            continue
        WAKEUPS.ticked[(tenant, player)] = wall
        await _tick(tenant, player, wall)
    if WAKEUPS.generation is not None and WAKEUPS.generation != WAKEUPS.scanned_generation:
        WAKEUPS.scanned_generation = WAKEUPS.generation
        found = _requests_waiting(wall)
        if found:
            log.info(
                "%d withdrawal request(s) found waiting for judgement after a rebalance", found
            )
    grace_ms = RISK.rules("", "").aml.rapid_in_out.grace_wall_seconds * 1000
    for (tenant, player), since in list(WAKEUPS.awaiting.items()):
        if wall * 1000 >= since + grace_ms:
            del WAKEUPS.awaiting[(tenant, player)]
            await _tick(tenant, player, wall)


def _requests_waiting(wall: float) -> int:
    """Wake-ups for every player of this worker's partitions whose state holds a withdrawal
    request still waiting for its rapid in/out judgement: once per generation, because a
    request handled by the previous owner (or before a restart) would otherwise wait for the
    player's next event. Walks the table once; a rebalance costs far more."""
    found = 0
    for key, st in player_risk.items():
        if isinstance(st, dict) and rules.awaiting_judgement(st):
            tenant, _, player = str(key).partition(":")
            WAKEUPS.awaiting.setdefault((tenant, player), int(wall * 1000))
            found += 1
    return found


@guarded_timer(interval=settings.worker_gauge_interval_s)
async def export_lag() -> None:
    """Consumer lag per topic, for dashboards: the high-water mark minus what the agent has
    handled. A partition not fetched since the last rebalance has no high-water mark yet
    (None): it is skipped until it has one."""
    lag: dict[str, int] = {}
    for tp in app.assignor.assigned_actives():
        high = app.consumer.highwater(tp)
        if high is None:
            continue
        handled = PROGRESS.handled_offset(tp.topic, tp.partition)
        lag[tp.topic] = lag.get(tp.topic, 0) + max(0, high - (handled + 1))
    for topic, value in lag.items():
        CONSUMER_LAG.labels(topic).set(value)


@guarded_timer(interval=4 * settings.worker_gauge_interval_s)
async def export_table_sizes() -> None:
    """Keys per table: counting them walks the table's RocksDB, so four times less often."""
    for table in (player_risk, settlement.open_bets, instrument_players):
        TABLE_KEYS.labels(table.name).set(sum(1 for _ in table))
