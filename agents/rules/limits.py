"""Player limits: deposit, loss and wager per day/week/month, session time per day, blocks.

Pure rules over one player's state dict (no Faust, no I/O; `agents/players.py` wires them).
Upstream checks limits synchronously against `ws:{tenant}:limits:{player}`; this module keeps
that read model true and reports in `limits.breach` what upstream should have refused.

Semantics an operator expects:
* usage counts per calendar period in the jurisdiction's local time (a German month starts at
  midnight in Berlin on the 1st, DST included);
* loss = cash stakes - payouts (winnings and void refunds), so it can go negative;
* lowering a limit applies at once; raising or removing one waits a cooling-off period (24 h;
  SE 72 h and not before the current period ends; DE 7 days); a jurisdiction's caps (DE:
  EUR 1,000 deposits a month) apply on top, and where several limits apply the lowest binds;
* self-exclusion and cool-off block deposits, stakes and logins until their end and cannot be
  shortened;
* a breach fires once per (limit, period) window.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from agents.rules.config import RiskConfig, RuleConfig
from agents.rules.rule import Context, Event, Rule, State
from agents.rules.signals import Emitter
from agents.rules.windows import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    PERIODS,
    period_bounds,
    period_key,
    split_by_day,
)

TOPIC = "limits.breach"
METRICS = ("deposit", "loss", "wager", "session_time")
BLOCKS = ("self_exclusion", "cool_off")
FOREVER_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z: an indefinite self-exclusion
UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
KEEP_USAGE_MS = 40 * DAY_MS  # longer than a month, so the current month's bucket survives


def new_state() -> dict[str, Any]:
    return {"own": {}, "pending": {}, "known": [], "blocks": {}, "used": {}, "sessions": {}}


def _slot(metric: str, period: str) -> str:
    return f"{metric}:{period}"


def _materialise(st: dict[str, Any], now_ms: int) -> None:
    """Apply pending increases whose cooling-off has passed."""
    for slot, (amount, effective_at) in list(st["pending"].items()):
        if effective_at <= now_ms:
            st["own"][slot] = amount
            del st["pending"][slot]


def set_limit(st: dict[str, Any], event: dict[str, Any], cfg: RuleConfig) -> None:
    """A player.limit event: decreases now, increases (and removals) after cooling-off."""
    now = event["occurred_at"]
    kind = event["limit_type"]
    if kind in BLOCKS:
        until = event["until"]
        if until is None:
            until = FOREVER_MS if kind == "self_exclusion" else now + DAY_MS
        st["blocks"][kind] = max(st["blocks"].get(kind, 0), until)
        return
    if event["period"] == "none":
        return  # money and time limits are per period; the decoder's schema allows `none`
    _materialise(st, now)
    slot = _slot(kind, event["period"])
    if slot not in st["known"]:
        st["known"].append(slot)
    new = event["amount"]
    current = st["own"].get(slot)
    is_decrease = new is not None and (current is None or new <= current)
    if is_decrease or slot not in st["own"]:
        st["own"][slot] = new
        st["pending"].pop(slot, None)
        return
    effective = now + cfg.limits.increase_cooling_hours * HOUR_MS
    if cfg.limits.increase_waits_for_period_end:
        effective = max(effective, period_bounds(now, event["period"], cfg.tz)[1])
    st["pending"][slot] = [new, effective]


def _caps(cfg: RuleConfig, fx: Any, currency: str | None) -> dict[str, int]:
    caps: dict[str, int] = {}
    for cap in cfg.limits.caps:
        amount = cap.amount_minor
        if cap.type != "session_time" and currency is not None:
            amount = fx.convert(cap.amount_minor, cap.currency, currency)
        slot = _slot(cap.type, cap.period)
        caps[slot] = min(amount, caps.get(slot, amount))
    return caps


def effective_limits(
    st: dict[str, Any], now_ms: int, cfg: RuleConfig, fx: Any
) -> dict[str, int | None]:
    """Binding limit per slot (own or jurisdiction cap, the lower); session time in ms."""
    _materialise(st, now_ms)
    limits: dict[str, int | None] = {slot: st["own"].get(slot) for slot in st["known"]}
    for slot, cap in _caps(cfg, fx, st.get("currency")).items():
        own = limits.get(slot)
        limits[slot] = cap if own is None else min(own, cap)
    for slot, value in limits.items():
        if value is not None and slot.startswith("session_time"):
            limits[slot] = value * MINUTE_MS
    return limits


def _used(st: dict[str, Any], metric: str, window: str) -> int:
    return st["used"].get(metric, {}).get(window, 0)


def _add(st: dict[str, Any], metric: str, window: str, amount: int) -> None:
    bucket = st["used"].setdefault(metric, {})
    bucket[window] = bucket.get(window, 0) + amount


def _check(
    st: dict[str, Any], metric: str, now: int, cfg: RuleConfig, fx: Any, emit: Emitter
) -> None:
    limits = effective_limits(st, now, cfg, fx)
    for period in PERIODS:
        limit = limits.get(_slot(metric, period))
        if limit is None:
            continue
        window = period_key(now, period, cfg.tz)
        used = _used(st, metric, window)
        if used > limit and emit.fire(
            f"{metric}_limit_{period}",
            window,
            "medium",
            forget_after_ms=period_bounds(now, period, cfg.tz)[1] + DAY_MS,
            value_minor=used,
            threshold_minor=limit,
            evidence=[emit.event["event_id"]],
        ):
            st["last_breach"] = [f"{metric}_limit_{period}", now]


def _record(
    st: dict[str, Any], metric: str, amount: int, now: int, cfg: RuleConfig, fx: Any, emit: Emitter
) -> None:
    for period in PERIODS:
        _add(st, metric, period_key(now, period, cfg.tz), amount)
    if amount > 0:
        _check(st, metric, now, cfg, fx, emit)


def _blocked(st: dict[str, Any], now: int, cfg: RuleConfig, emit: Emitter) -> None:
    for kind in BLOCKS:
        until = st["blocks"].get(kind, 0)
        if now < until and emit.fire(
            kind,
            period_key(now, "day", cfg.tz),
            "high",
            forget_after_ms=now + 2 * DAY_MS,
            evidence=[emit.event["event_id"]],
        ):
            st["last_breach"] = [kind, now]


def _amount(st: dict[str, Any], amount: int, currency: str, fx: Any) -> int:
    """In the player's limit currency: the first currency seen for the player."""
    st.setdefault("currency", currency)
    if st["currency"] is None:
        st["currency"] = currency
    return fx.convert(amount, currency, st["currency"])


def on_deposit_succeeded(
    st: dict[str, Any], event: dict[str, Any], cfg: RuleConfig, risk: RiskConfig, emit: Emitter
) -> None:
    now = event["occurred_at"]
    amount = _amount(st, event["amount_minor"], event["currency"], risk.fx)
    _blocked(st, now, cfg, emit)
    _record(st, "deposit", amount, now, cfg, risk.fx, emit)


def on_stake(
    st: dict[str, Any], event: dict[str, Any], cfg: RuleConfig, risk: RiskConfig, emit: Emitter
) -> None:
    now = event["occurred_at"]
    amount = _amount(st, event["stake_minor"], event["currency"], risk.fx)
    _blocked(st, now, cfg, emit)
    _record(st, "wager", amount, now, cfg, risk.fx, emit)
    _record(st, "loss", amount, now, cfg, risk.fx, emit)


def on_payout(
    st: dict[str, Any], event: dict[str, Any], cfg: RuleConfig, risk: RiskConfig, emit: Emitter
) -> None:
    if event["payout_minor"]:
        amount = _amount(st, event["payout_minor"], event["currency"], risk.fx)
        _record(st, "loss", -amount, event["occurred_at"], cfg, risk.fx, emit)


def on_session(
    st: dict[str, Any], event: dict[str, Any], cfg: RuleConfig, risk: RiskConfig, emit: Emitter
) -> None:
    """Session time accrues between consecutive events of a session, split at local midnight."""
    now = event["occurred_at"]
    sessions = st["sessions"]
    session = event["session_id"]
    if event["kind"] == "login":
        _blocked(st, now, cfg, emit)
    last = sessions.get(session)
    if last is not None and now > last:
        for window, spent in split_by_day(last, now, cfg.tz):
            _add(st, "session_time", window, spent)
        _check(st, "session_time", now, cfg, risk.fx, emit)
    if event["kind"] == "logout":
        sessions.pop(session, None)
    else:
        sessions[session] = max(now, last or now)


def prune(st: dict[str, Any], now: int) -> None:
    horizon = now - KEEP_USAGE_MS
    for metric, buckets in st["used"].items():
        st["used"][metric] = {
            w: v for w, v in buckets.items() if not w.startswith("day:") or _day_ms(w) >= horizon
        }
    for session, last in list(st["sessions"].items()):
        if last < now - DAY_MS:  # never logged out: stop accruing after a day of silence
            del st["sessions"][session]


def _day_ms(window: str) -> int:
    """UTC midnight of a `day:YYYY-MM-DD` window: precise enough to decide what to forget."""
    return (date.fromisoformat(window[4:14]).toordinal() - UNIX_EPOCH_ORDINAL) * DAY_MS


def read_model(
    st: dict[str, Any], now: int, cfg: RuleConfig, risk: RiskConfig
) -> dict[str, str | int]:
    """`ws:{tenant}:limits:{player}` fields (DESIGN.md), plus `<type>_remaining`: the lowest
    remaining over that type's periods, i.e. what the next deposit or stake may be."""
    fields: dict[str, str | int] = {}
    lowest: dict[str, int] = {}
    for slot, limit in effective_limits(st, now, cfg, risk.fx).items():
        metric, period = slot.split(":")
        name = f"{metric}_{period}"
        if limit is None:
            fields.update({f"{name}_limit": "", f"{name}_used": "", f"{name}_remaining": ""})
            fields[f"{name}_resets_at_ms"] = ""
            continue
        used = _used(st, metric, period_key(now, period, cfg.tz))
        remaining = max(0, limit - used)
        fields.update(
            {
                f"{name}_limit": limit,
                f"{name}_used": used,
                f"{name}_remaining": remaining,
                f"{name}_resets_at_ms": period_bounds(now, period, cfg.tz)[1],
            }
        )
        pending = st["pending"].get(slot)
        fields[f"{name}_pending_limit"] = (
            "" if pending is None or pending[0] is None else pending[0]
        )
        fields[f"{name}_pending_at_ms"] = "" if pending is None else pending[1]
        lowest[metric] = min(remaining, lowest.get(metric, remaining))
    for metric, remaining in lowest.items():
        fields[f"{metric}_remaining"] = remaining
    blocked = max((u for u in st["blocks"].values() if u > now), default=0)
    fields["blocked_until_ms"] = blocked
    fields["currency"] = st.get("currency") or ""
    code, at = st.get("last_breach") or ("", "")
    fields["last_breach_code"], fields["last_breach_at_ms"] = code, at
    return fields


def _on_deposit(ctx: Context, st: State, event: Event) -> None:
    if event["status"] == "succeeded":
        on_deposit_succeeded(st, event, ctx.cfg, ctx.risk, ctx.emitter(TOPIC))


RULE = Rule(
    name="limits",
    topic=TOPIC,
    new_state=new_state,
    handlers={
        "bet_placed": lambda ctx, st, e: on_stake(st, e, ctx.cfg, ctx.risk, ctx.emitter(TOPIC)),
        "bet_settled": lambda ctx, st, e: on_payout(st, e, ctx.cfg, ctx.risk, ctx.emitter(TOPIC)),
        "payment_deposit": _on_deposit,
        "player_session": lambda ctx, st, e: on_session(
            st, e, ctx.cfg, ctx.risk, ctx.emitter(TOPIC)
        ),
        "player_limit": lambda ctx, st, e: set_limit(st, e, ctx.cfg),
    },
    read_model=read_model,
    prune=prune,
)
