"""Responsible-gambling markers: pure rules over one player's state dict.

Each rule fires a marker (`rg.signal`) and keeps it active for `marker_ttl_days`; the player's
level 0-3 in `ws:{tenant}:rg:{player}` is the capped sum of the active markers' weights.

Windows, and "once per (player, code, window)":
* rolling rules (net deposits over 30 days, 3 failed deposits in an hour, stake or deposit
  escalation) count only events after the newest evidence of their previous firing, so one
  burst fires once and a second, new burst fires again; the window is named by its first
  evidence's time, e.g. `60m@2026-03-29T01:10:00Z`;
* calendar and session rules name their window: `day:2026-03-29`, `session:<id>`,
  `withdrawal:<payment id>`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agents.rules.config import RiskConfig, RuleConfig
from agents.rules.rule import Context, Rule, State
from agents.rules.signals import Emitter
from agents.rules.windows import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    insert_sorted,
    iso,
    local_hour,
    period_key,
    prune,
    within,
)

TOPIC = "rg.signal"
SEVERITY = {1: "low", 2: "medium", 3: "high"}


def new_state() -> dict[str, Any]:
    return {
        "deposits": [],  # [ts, amount in player currency, event id, amount in FV currency]
        "withdrawals": [],  # paid: [ts, amount in FV currency, event id]
        "stakes": [],  # last N stake amounts, player currency
        "escalations": [],  # [ts, event id]
        "failed": [],  # [ts, event id]
        "night": None,  # [day key, total, night total]
        "balance": None,  # [day key, last balance, peak, low_since_ms | None, event id]
        "cancelled": [],  # [ts, amount, payment id, staked since]
        "sessions": {},  # session id -> login ms
        "consumed": {},  # code -> ts of the newest evidence of its last firing
        "markers": {},  # code -> active until ms
    }


class Rules:
    """The rules for one event: config resolved for the player's tenant and jurisdiction."""

    def __init__(
        self, st: dict[str, Any], cfg: RuleConfig, risk: RiskConfig, emit: Emitter, currency: str
    ) -> None:
        self.st = st
        self.cfg = cfg.rg
        self.tz = cfg.tz
        self.fx = risk.fx
        self.emit = emit
        self.currency = currency
        self.now: int = emit.event["occurred_at"]

    # --- helpers ------------------------------------------------------------------------------
    def mark(
        self,
        code: str,
        window: str,
        evidence: list[str],
        value: int | None = None,
        threshold: int | None = None,
        occurred_at: int | None = None,
    ) -> bool:
        weight = self.cfg.weights.get(code, 1)
        ttl = self.cfg.marker_ttl_days * DAY_MS
        fired = self.emit.fire(
            code,
            window,
            SEVERITY[min(3, max(1, weight))],
            forget_after_ms=self.now + ttl,
            value_minor=value,
            threshold_minor=threshold,
            evidence=evidence,
            occurred_at=occurred_at,
        )
        if fired:
            self.st["markers"][code] = max(self.st["markers"].get(code, 0), self.now + ttl)
        return fired

    def fresh(self, code: str, items: list[list[Any]], span_ms: int) -> list[list[Any]]:
        """Items inside the rolling window ending now and newer than the last firing's
        evidence."""
        start = max(self.now - span_ms, self.st["consumed"].get(code, -1))
        return within(items, start, self.now)

    def fire_rolling(
        self,
        code: str,
        span: str,
        used: list[list[Any]],
        id_index: int,
        value: int | None = None,
        threshold: int | None = None,
    ) -> None:
        window = f"{span}@{iso(used[0][0])}"
        if self.mark(code, window, [u[id_index] for u in used], value, threshold):
            self.st["consumed"][code] = used[-1][0]

    def amount(self, amount_minor: int, currency: str) -> int:
        return self.fx.convert(amount_minor, currency, self.currency)

    # --- rules --------------------------------------------------------------------------------
    def close_night(self) -> None:
        """Night play is decided when the local day is over: at the player's first event of a
        later day."""
        night = self.st["night"]
        today = period_key(self.now, "day", self.tz)
        if night is None or night[0] == today:
            return
        day, total, at_night = night
        self.st["night"] = None
        if total > 0 and Decimal(at_night) > self.cfg.night_play.share * total:
            self.mark("night_play", day, [], value=at_night, threshold=total)

    def on_stake(self, event: dict[str, Any]) -> None:
        self.close_night()
        stake = self.amount(event["stake_minor"] + event["bonus_stake_minor"], event["currency"])
        self._night(stake)
        self._stake_escalation(stake, event["event_id"])
        self._withdrawal_reversal(stake, event["event_id"])

    def _night(self, stake: int) -> None:
        if self.st["night"] is None:
            self.st["night"] = [period_key(self.now, "day", self.tz), 0, 0]
        self.st["night"][1] += stake
        rule = self.cfg.night_play
        if rule.start_hour <= local_hour(self.now, self.tz) < rule.end_hour:
            self.st["night"][2] += stake

    def _stake_escalation(self, stake: int, event_id: str) -> None:
        rule = self.cfg.stake_escalation
        history = self.st["stakes"]
        if len(history) >= rule.min_history:
            ordered = sorted(history)
            mid = len(ordered) // 2
            median = (
                Decimal(ordered[mid])
                if len(ordered) % 2
                else (Decimal(ordered[mid - 1]) + Decimal(ordered[mid])) / 2
            )
            if median > 0 and stake >= rule.factor * median:
                insert_sorted(self.st["escalations"], [self.now, event_id])
        history.append(stake)
        del history[: -rule.history]
        span = rule.within_minutes * MINUTE_MS
        self.st["escalations"] = prune(self.st["escalations"], self.now - span)
        used = self.fresh("stake_escalation", self.st["escalations"], span)
        if len(used) >= rule.times:
            self.fire_rolling("stake_escalation", f"{rule.within_minutes}m", used, 1)

    def _withdrawal_reversal(self, stake: int, event_id: str) -> None:
        rule = self.cfg.withdrawal_reversal
        self.st["cancelled"] = prune(self.st["cancelled"], self.now - rule.within_hours * HOUR_MS)
        for entry in self.st["cancelled"]:
            ts, amount, payment_id, staked = entry
            if ts > self.now:
                continue
            entry[3] = staked + stake
            if Decimal(entry[3]) >= rule.share * amount:
                self.mark(
                    "withdrawal_reversal",
                    f"withdrawal:{payment_id}",
                    [payment_id, event_id],
                    value=entry[3],
                    threshold=amount,
                )

    def on_deposit(self, event: dict[str, Any]) -> None:
        """A deposit event (first time its payment reached this status)."""
        self.close_night()
        status = event["status"]
        if status == "failed":
            self._failed(event["event_id"])
        if status != "succeeded":
            return
        amount = self.amount(event["amount_minor"], event["currency"])
        fv_currency = self.cfg.financial_vulnerability.net_deposits.currency
        fv_amount = self.fx.convert(event["amount_minor"], event["currency"], fv_currency)
        keep = max(
            self.cfg.deposit_escalation.baseline_days + 1, self.cfg.financial_vulnerability.days
        )
        self.st["deposits"] = prune(self.st["deposits"], self.now - keep * DAY_MS)
        insert_sorted(self.st["deposits"], [self.now, amount, event["event_id"], fv_amount])
        self._financial_vulnerability()
        self._deposit_escalation()

    def _failed(self, event_id: str) -> None:
        rule = self.cfg.failed_deposits
        span = rule.within_minutes * MINUTE_MS
        self.st["failed"] = prune(self.st["failed"], self.now - span)
        insert_sorted(self.st["failed"], [self.now, event_id])
        used = self.fresh("failed_deposits", self.st["failed"], span)
        if len(used) >= rule.count:
            self.fire_rolling("failed_deposits", f"{rule.within_minutes}m", used, 1)

    def _financial_vulnerability(self) -> None:
        rule = self.cfg.financial_vulnerability
        if not rule.enabled:
            return
        span = rule.days * DAY_MS
        deposits = self.fresh("financial_vulnerability", self.st["deposits"], span)
        if not deposits:
            return
        since = deposits[0][0] - 1
        withdrawals = within(self.st["withdrawals"], since, self.now)
        net = sum(d[3] for d in deposits) - sum(w[1] for w in withdrawals)
        if net >= rule.net_deposits.amount_minor:
            self.fire_rolling(
                "financial_vulnerability",
                f"{rule.days}d",
                deposits,
                2,
                value=net,
                threshold=rule.net_deposits.amount_minor,
            )

    def _deposit_escalation(self) -> None:
        rule = self.cfg.deposit_escalation
        deposits = self.st["deposits"]
        recent = self.fresh("deposit_escalation", deposits, DAY_MS)
        baseline = within(deposits, self.now - (rule.baseline_days + 1) * DAY_MS, self.now - DAY_MS)
        # recent ≥ factor x (baseline / days), without division
        if len(recent) >= rule.min_deposits and (
            len(recent) * rule.baseline_days >= rule.factor * len(baseline)
        ):
            self.fire_rolling("deposit_escalation", "24h", recent, 2, value=len(recent))

    def on_withdrawal(self, event: dict[str, Any]) -> None:
        self.close_night()
        rule = self.cfg.financial_vulnerability
        if event["status"] == "paid":
            amount = self.fx.convert(
                event["amount_minor"], event["currency"], rule.net_deposits.currency
            )
            self.st["withdrawals"] = prune(self.st["withdrawals"], self.now - rule.days * DAY_MS)
            insert_sorted(self.st["withdrawals"], [self.now, amount, event["event_id"]])
        elif event["status"] == "cancelled":
            amount = self.amount(event["amount_minor"], event["currency"])
            insert_sorted(self.st["cancelled"], [self.now, amount, event["payment_id"], 0])

    def on_session(self, event: dict[str, Any]) -> None:
        self.close_night()
        sessions = self.st["sessions"]
        session = event["session_id"]
        if event["kind"] == "login":
            sessions.setdefault(session, self.now)
        started = sessions.get(session)
        limit_ms = int(self.cfg.long_session.hours * HOUR_MS)
        if started is not None and self.now - started > limit_ms:
            self.mark(
                "long_session",
                f"session:{session}",
                [event["event_id"]],
                value=(self.now - started) // MINUTE_MS,
                threshold=limit_ms // MINUTE_MS,
            )
        if event["kind"] == "logout":
            sessions.pop(session, None)
        for sid, login in list(sessions.items()):
            if login < self.now - 2 * DAY_MS:
                del sessions[sid]

    def on_ledger_entry(self, entry: dict[str, Any]) -> None:
        """Loss chasing, from the ledger's player cash legs: a deposit within N minutes after a
        stake took the cash balance below a share of the day's peak."""
        rule = self.cfg.loss_chasing
        balance = entry["balance_after_minor"]
        day = period_key(self.now, "day", self.tz)
        state = self.st["balance"]
        if state is None or state[0] != day:
            opening = 0 if state is None else state[1]
            state = self.st["balance"] = [day, opening, opening, None, None]
        kind = entry["kind"]
        if kind == "deposit" and state[3] is not None:
            if self.now - state[3] <= rule.within_minutes * MINUTE_MS:
                self.mark(
                    "loss_chasing",
                    f"chase@{iso(state[3])}",
                    [state[4], self.emit.event["event_id"]],
                    value=state[1],
                    threshold=state[2],
                )
            state[3] = state[4] = None
        state[1] = balance
        state[2] = max(state[2], balance)
        low = Decimal(balance) < rule.balance_share * state[2]
        if kind == "stake" and low and state[3] is None:
            state[3], state[4] = self.now, self.emit.event["event_id"]
        elif not low:
            state[3] = state[4] = None


def read_model(st: dict[str, Any], now: int, cfg: RuleConfig) -> dict[str, str | int]:
    active = sorted(code for code, until in st["markers"].items() if until > now)
    level = min(3, sum(cfg.rg.weights.get(code, 1) for code in active))
    return {"level": level, "markers": ",".join(active), "updated_at_ms": now}


def prune_markers(st: dict[str, Any], now: int) -> None:
    st["markers"] = {code: until for code, until in st["markers"].items() if until > now}


def _rules(ctx: Context, st: State) -> Rules:
    return Rules(st, ctx.cfg, ctx.risk, ctx.emitter(TOPIC), ctx.currency)


RULE = Rule(
    name="rg",
    topic=TOPIC,
    new_state=new_state,
    handlers={
        "bet_placed": lambda ctx, st, e: _rules(ctx, st).on_stake(e),
        "payment_deposit": lambda ctx, st, e: _rules(ctx, st).on_deposit(e),
        "payment_withdrawal": lambda ctx, st, e: _rules(ctx, st).on_withdrawal(e),
        "player_session": lambda ctx, st, e: _rules(ctx, st).on_session(e),
        "ledger_cdc": lambda ctx, st, e: _rules(ctx, st).on_ledger_entry(e),
    },
    read_model=lambda st, now, cfg, risk: read_model(st, now, cfg),
    prune=prune_markers,
)
