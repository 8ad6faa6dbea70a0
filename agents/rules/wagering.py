"""Bonus wagering: how much of each bonus's requirement a player has staked.

A bonus granted in the ledger (`bonus_grant` on the player's bonus account) must be staked
`multiplier` x its amount before it converts to cash (the tenant's and jurisdiction's terms in
`risk.toml`, never above the jurisdiction's cap, UKGC 10x: the config is refused at load).
Each stake placed after the grant counts `contribution_pct` of itself for its product (cash
plus bonus part, in the bonus's currency; a sportsbook stake 100 %, live casino 10 % by
default), rounded down to a minor unit.

Semantics an operator expects:
* bonuses are wagered one at a time, oldest first; a stake fills the oldest active bonus up to
  its requirement and the excess counts towards nothing (one stake, one bonus);
* a voided bet gives its contribution back while its bonus is still open (a completed bonus
  is active again if that takes it below the requirement);
* the ledger closes a bonus: `bonus_convert` converts the oldest completed one (or, when none
  is complete, the oldest active: an operator's early release), `bonus_forfeit` forfeits the
  oldest active one (or the oldest completed);
* every change of a bonus goes to `bonus.wagering` with a revision that grows by one per
  change, so a replay re-sends the same revision and the mart keeps one row per bonus.

Grants and stakes come on different topics, in no fixed order: a stake may be handled before
the grant it follows in event time. So the rule remembers the player's stakes that counted
towards nothing for `late_grant_minutes` of event time (at most UNCOUNTED_MAX of them), and a
grant claims those dated at or after it, oldest first. A stake dated before the grant never
counts, whenever it arrives. Pure functions over one player's state; no I/O.
"""

from __future__ import annotations

from typing import Any

from agents.rules.config import RiskConfig, RuleConfig
from agents.rules.rule import Context, Event, Record, Rule, State
from foundation.units import DAY_MS, MINUTE_MS

TOPIC = "bonus.wagering"
OPEN = ("active", "completed")
KEEP_CLOSED_MS = 35 * DAY_MS  # a closed bonus stays in the read model's counts this long
UNCOUNTED_MAX = 20  # stakes remembered for a grant that arrives after them


def new_state() -> State:
    return {"bonuses": [], "bets": {}, "closed": {"converted": 0, "forfeited": 0}}


def contribution(event: Event, cfg: RuleConfig) -> int:
    """The stake's count towards a wagering requirement, in the stake's minor units."""
    pct = cfg.wagering.contribution_pct.get(event["product"], 0)
    return (event["stake_minor"] + event["bonus_stake_minor"]) * pct // 100


def _emit(ctx: Context, bonus: dict[str, Any], at: int) -> None:
    bonus["rev"] += 1
    bonus["updated_at"] = at
    event = ctx.event
    ctx.records.append(
        Record(
            TOPIC,
            event["player_id"],
            {
                "bonus_id": bonus["id"],
                "tenant_id": event["tenant_id"],
                "brand_id": bonus["brand"],
                "jurisdiction": bonus["jurisdiction"],
                "player_id": event["player_id"],
                "currency": bonus["currency"],
                "bonus_minor": bonus["amount"],
                "multiplier": bonus["multiplier"],
                "required_minor": bonus["required"],
                "wagered_minor": bonus["wagered"],
                "status": bonus["status"],
                "granted_at": bonus["granted_at"],
                "updated_at": at,
                "revision": bonus["rev"],
            },
        )
    )


def _count(ctx: Context, bonus: dict[str, Any], bet: list[Any]) -> None:
    """Count a remembered stake (bet id, time, currency, contribution, bonus id, counted) for
    `bonus`, up to what the bonus still needs."""
    added = min(bet[3], bonus["required"] - bonus["wagered"])
    bonus["wagered"] += added
    if bonus["wagered"] >= bonus["required"]:
        bonus["status"] = "completed"
    bet[4], bet[5] = bonus["id"], added
    _emit(ctx, bonus, bet[1])


def _takes(bonus: dict[str, Any], at: int, currency: str) -> bool:
    return (
        bonus["status"] == "active" and bonus["currency"] == currency and bonus["granted_at"] <= at
    )


def _first(st: State, *statuses: str) -> dict[str, Any] | None:
    for status in statuses:
        for bonus in st["bonuses"]:
            if bonus["status"] == status:
                return bonus
    return None


def on_ledger(ctx: Context, st: State, entry: Event) -> None:
    """A leg on the player's bonus account: a grant opens a bonus, convert and forfeit close
    one; bonus stakes and wins are counted from the bets themselves."""
    kind, at = entry["kind"], entry["occurred_at"]
    if kind == "bonus_grant":
        multiplier = ctx.cfg.wagering.multiplier
        bonus = {
            "id": entry["transfer_id"],
            "amount": entry["amount_minor"],
            "currency": entry["currency"],
            "brand": entry["brand_id"],
            "jurisdiction": entry["jurisdiction"],
            "multiplier": multiplier,
            "required": entry["amount_minor"] * multiplier,
            "wagered": 0,
            "status": "active" if multiplier else "completed",
            "granted_at": at,
            "rev": 0,
        }
        st["bonuses"].append(bonus)
        _emit(ctx, bonus, at)
        late = [b for b in st["bets"].values() if b[4] is None and _takes(bonus, b[1], b[2])]
        for bet in sorted(late, key=lambda b: b[1]):
            if bonus["status"] != "active":
                break
            _count(ctx, bonus, bet)
        return
    if kind == "bonus_convert":
        bonus, status = _first(st, "completed", "active"), "converted"
    elif kind == "bonus_forfeit":
        bonus, status = _first(st, "active", "completed"), "forfeited"
    else:
        return
    if bonus is None:
        return
    bonus["status"] = status
    bonus["closed_at"] = at
    st["closed"][status] += 1
    _emit(ctx, bonus, at)


def on_stake(ctx: Context, st: State, event: Event) -> None:
    counted = contribution(event, ctx.cfg)
    if counted <= 0:
        return
    at, currency = event["occurred_at"], event["currency"]
    bet = [event["bet_id"], at, currency, counted, None, 0]
    for bonus in st["bonuses"]:
        if _takes(bonus, at, currency):
            _count(ctx, bonus, bet)
            break
    else:  # counted towards nothing (yet): a grant dated before it may still arrive
        horizon = ctx.high_ms - ctx.cfg.wagering.late_grant_minutes * MINUTE_MS
        if at < horizon:
            return
        uncounted = [b for b in st["bets"].values() if b[4] is None]
        if len(uncounted) >= UNCOUNTED_MAX:
            del st["bets"][min(uncounted, key=lambda b: b[1])[0]]
    st["bets"][event["bet_id"]] = bet


def on_settle(ctx: Context, st: State, event: Event) -> None:
    bet = st["bets"].pop(event["bet_id"], None)
    if bet is None or bet[4] is None or event["outcome"] != "void":
        return
    bonus_id, added = bet[4], bet[5]
    for bonus in st["bonuses"]:
        if bonus["id"] == bonus_id and bonus["status"] in OPEN:
            bonus["wagered"] -= added
            if bonus["wagered"] < bonus["required"]:
                bonus["status"] = "active"
            _emit(ctx, bonus, event["occurred_at"])
            return


def read_model(st: State, now: int, cfg: RuleConfig, risk: RiskConfig) -> dict[str, str | int]:
    """The player-facing "wagered X of Y": the bonus being wagered (else the newest one)."""
    bonuses = st["bonuses"]
    current = _first(st, "active", "completed") or bonuses[-1]
    return {
        "bonus_id": current["id"],
        "status": current["status"],
        "currency": current["currency"],
        "bonus_minor": current["amount"],
        "required_minor": current["required"],
        "wagered_minor": current["wagered"],
        "remaining_minor": current["required"] - current["wagered"],
        "open_bonuses": sum(1 for b in bonuses if b["status"] in OPEN),
        "converted": st["closed"]["converted"],
        "forfeited": st["closed"]["forfeited"],
        "updated_at_ms": current["updated_at"],
    }


def prune(st: State, now: int) -> None:
    horizon = now - KEEP_CLOSED_MS
    kept = [b for b in st["bonuses"] if b["status"] in OPEN or b["closed_at"] >= horizon]
    # the newest bonus stays, so the read model always has one to show
    st["bonuses"] = kept or st["bonuses"][-1:]
    st["bets"] = {bet: b for bet, b in st["bets"].items() if b[1] >= horizon}


RULE = Rule(
    name="bonus",
    topic=None,
    new_state=new_state,
    handlers={
        "ledger_bonus": on_ledger,
        "bet_placed": on_stake,
        "bet_settled": on_settle,
    },
    read_model=read_model,
    prune=prune,
    has_model=lambda st: bool(st["bonuses"]),
)
