"""One player's risk state and the route of each event type to the rules that judge it.

The player agent (`agents/players.py`) keeps this state in a table and calls `apply_event`
for every decoded event; everything here is a plain function over plain dicts.

Idempotence: the state remembers event ids for `dedup_memory_ms` of event time and each
(payment, status) for longer, so an at-least-once replay or an upstream duplicate changes no
sum and fires nothing twice. Ledger entries need no id memory: a cash account's entry ids
grow in commit order, so a high-water mark recognises every redelivery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agents.rules import aml, limits, rg, wagering
from agents.rules.config import RiskConfig
from agents.rules.rule import Context, Event, Handler, ReadPast, Record, Rule, State
from agents.rules.signals import Emitter, Signal, prune_fired
from foundation.units import DAY_MS

# The rules of a player, in the order they judge an event (and emit its signals).
RULES: tuple[Rule, ...] = (limits.RULE, rg.RULE, aml.RULE, wagering.RULE)
SIGNAL_TOPICS: tuple[str, ...] = tuple(rule.topic for rule in RULES if rule.topic)
# ledger legs by the player account they are on: each account's entry ids grow in its own
# commit order (its row lock orders them), so each has its own high-water mark
LEDGER_HIGH = {"ledger_cdc": "ledger_high", "ledger_bonus": "ledger_bonus_high"}
PAYMENT_MEMORY_MS = 35 * DAY_MS
PRUNE_EVERY = 64


@dataclass(frozen=True)
class Env:
    """What the rules need from outside the player's state, for one event."""

    risk: RiskConfig
    dedup_memory_ms: int
    wall_ms: int
    source: tuple[int, float] | None = None  # (partition, produce time ms) of the event
    read_past: ReadPast | None = None


def _first(st: State, key: str, now: int) -> bool:
    """True the first time a (payment, status) is seen."""
    if key in st["payments"]:
        return False
    st["payments"][key] = now
    return True


def _payment(st: State, ctx: Context, event: Event) -> bool:
    """A payment's status counts once, whatever event id it comes under (remembered from the
    player's newest event time, so a back-dated payment is remembered as long as a new one)."""
    now = max(event["occurred_at"], st["high"])
    ctx.first_seen = _first(st, event["payment_id"], now)
    return _first(st, f"{event['payment_id']}|{event['status']}", now)


# Checks an event must pass before any rule sees it: False skips it (nothing new).
Guard = Callable[[State, Context, Event], bool]
GUARDS: dict[str, Guard] = {"payment_deposit": _payment, "payment_withdrawal": _payment}


def _routes(rules: tuple[Rule, ...]) -> dict[str, tuple[tuple[Rule, Handler], ...]]:
    stems = {stem for rule in rules for stem in rule.handlers}
    return {
        stem: tuple((rule, rule.handlers[stem]) for rule in rules if stem in rule.handlers)
        for stem in sorted(stems)
    }


# event type (schema stem) → the rules' handlers for it, in RULES order
ROUTES = _routes(RULES)


def new_player() -> State:
    return {
        "seen": {},
        "payments": {},
        "fired": {},
        "seq": 0,
        "high": 0,
        **{rule.name: rule.new_state() for rule in RULES},
    }


def prune(st: State, dedup_memory_ms: int) -> None:
    high = st["high"]
    horizon = high - dedup_memory_ms
    st["seen"] = {k: ts for k, ts in st["seen"].items() if ts >= horizon}
    st["payments"] = {k: ts for k, ts in st["payments"].items() if ts >= high - PAYMENT_MEMORY_MS}
    prune_fired(st["fired"], high)
    for rule in RULES:
        rule.prune(st[rule.name], high)


def is_duplicate(st: State, stem: str, event: Event) -> bool:
    """Remember the event; True when it was seen before (a replay or an upstream repeat)."""
    high = LEDGER_HIGH.get(stem)
    if high is not None:
        if event["entry_id"] <= st.get(high, 0):
            return True
        st[high] = event["entry_id"]
        return False
    if event["event_id"] in st["seen"]:
        return True
    # remembered from the newest event time seen: a back-dated event (a backfill weeks old)
    # stays known for dedup_memory_ms after it arrived, not forgotten at the next prune
    st["seen"][event["event_id"]] = max(event["occurred_at"], st["high"])
    return False


def snapshot_verdict(st: State | None, stem: str, entry_id: int) -> str:
    """Whether the rules judge a ledger snapshot read (op r): "judged", "seen" or "history".

    A relay that lost its slot (dropped, or invalidated past `max_slot_wal_keep_size`) takes a
    new one and snapshots the ledger again, and the entries committed while it had none exist
    on `ledger.cdc` only as snapshot rows: skipped, they would leave a gap in a player's
    balances that the rules never see (a loss chase inside it goes unsignalled). So a row is
    judged when its player's ledger legs are already followed (the state holds a newest entry
    id) and it is newer than those; a row at or below it was judged when it streamed. A
    player not followed yet has only history in the snapshot (a first run over an existing
    ledger), which the rules must not raise signals on now. Entry ids grow per account in
    commit order, so "newer" is exact per player."""
    if st is None or not any(high in st for high in LEDGER_HIGH.values()):
        return "history"
    return "judged" if entry_id > st.get(LEDGER_HIGH[stem], 0) else "seen"


def apply_event(
    st: State, stem: str, event: Event, env: Env
) -> tuple[list[Signal], list[Record]] | None:
    """The rules' effect of one event on a player's state: its signals and the records for
    other topics; None for a duplicate."""
    if is_duplicate(st, stem, event):
        return None
    for rule in RULES:  # a state written before its newest rule existed gets its slot
        if rule.name not in st:
            st[rule.name] = rule.new_state()
    st["seq"] += 1
    st["high"] = max(st["high"], event["occurred_at"])
    if stem not in LEDGER_HIGH:
        st["jurisdiction"] = event["jurisdiction"]
        st["brand"] = event["brand_id"]
    if st["seq"] % PRUNE_EVERY == 0:
        prune(st, env.dedup_memory_ms)
    currency = event.get("currency")
    if currency:
        st.setdefault("currency", currency)
    ctx = Context(
        event=event,
        cfg=env.risk.rules(event["tenant_id"], event["jurisdiction"]),
        risk=env.risk,
        fired=st["fired"],
        wall_ms=env.wall_ms,
        high_ms=st["high"],
        seq=st["seq"],
        currency=st.get("currency") or currency or "EUR",
        source=env.source,
        read_past=env.read_past,
    )
    guard = GUARDS.get(stem)
    if guard is not None and not guard(st, ctx, event):
        return [], []
    for rule, handler in ROUTES.get(stem, ()):
        handler(ctx, st[rule.name], event)
    for rule in RULES:
        if rule.after is not None:
            rule.after(ctx, st[rule.name], event)
    return ctx.signals(SIGNAL_TOPICS), ctx.records


def awaiting_judgement(st: State) -> bool:
    """A withdrawal request waits for the worker to read far enough (rapid in/out)."""
    return bool(st["aml"]["pending"])


def judge_on_tick(
    st: State, tenant: str, player: str, wall_ms: int, risk: RiskConfig, read_past: ReadPast
) -> list[Signal]:
    """A tick for a player with withdrawal requests waiting for their grace period."""
    if not st["aml"]["pending"] or "brand" not in st:
        return []
    subject = {
        "player_id": player,
        "tenant_id": tenant,
        "brand_id": st["brand"],
        "jurisdiction": st["jurisdiction"],
        "occurred_at": st["high"],
    }
    emit = Emitter(st["fired"], aml.TOPIC, subject)
    cfg = risk.rules(tenant, st["jurisdiction"])
    aml.Rules(st["aml"], cfg, risk, emit).judge_pending(st["high"], wall_ms, read_past)
    return emit.signals


def ledger_event(record: Event, st: State) -> Event:
    """A player leg of the ledger as an event the rules understand (cash legs: RG; bonus
    legs: wagering)."""
    entry = record["after"]
    return {
        "event_id": f"ledger-entry:{entry['entry_id']}",
        "occurred_at": entry["created_at"],
        "tenant_id": entry["tenant_id"],
        "brand_id": entry["brand_id"],
        "jurisdiction": entry["jurisdiction"] or st.get("jurisdiction") or "",
        "player_id": entry["player_id"],
        "trace_id": None,
        "kind": entry["kind"],
        "amount_minor": entry["amount_minor"],
        "currency": entry["currency"],
        "balance_after_minor": entry["balance_after_minor"],
        "transfer_id": entry["transfer_id"],
        "entry_id": entry["entry_id"],
    }
