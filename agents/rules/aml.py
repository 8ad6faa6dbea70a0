"""Anti-money-laundering alerts: pure rules over one player's state dict.

Amounts are converted into the threshold's currency (EUR by default) per event. The CDD
threshold (EU AMLD4 Art. 11(d), UK MLR 2017 reg. 27) is checked per kind of transaction —
stakes, payouts, deposits, withdrawals — for a single transaction (`aml_threshold`) and for
linked ones below it: within 24 h (`aml_threshold_24h`) or within one session
(`aml_threshold_session`, which matters for sessions longer than the 24 h window). Linked
rules count only transactions after the newest evidence of their previous alert, so one set of
transactions raises one alert. Any threshold alert sets `cdd_required=1`, which stays set:
clearing it is the KYC team's decision, not a stream's.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from agents.rules.config import RiskConfig, RuleConfig
from agents.rules.rule import Context, Event, Record, Rule, State
from agents.rules.signals import Emitter
from agents.rules.windows import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    UnusedTotals,
    insert_sorted,
    iso,
    mark_used,
    prune,
    running_total,
    unused_between,
    window_ends,
    windows_through,
    within,
)
from topics.catalogue import INSTRUMENT_USES

TOPIC = "aml.alert"
CATEGORIES = ("stake", "payout", "deposit", "withdrawal")
WATERMARK_TOPICS = ("bet.placed", "payment.deposit")
LATE_SPANS = 2  # a window's entries are kept this many spans: events up to one span late link
# index of the "used as evidence" flag in [ts, amount, event id] and [ts, event id] entries
TX_USED, ATTEMPT_USED = 3, 2


def new_state() -> dict[str, Any]:
    return {
        "tx": {c: [] for c in CATEGORIES},  # sub-threshold: [ts, amount, event id]
        "session": None,  # [session id, login ms]
        "near": [],  # deposits within [low_share, 1) x threshold: [ts, amount, event id]
        "attempts": [],  # first event of each deposit: [ts, event id]
        # rapid in/out, in event time: succeeded deposits [ts, amount, id], stake turnover per
        # minute {minute: amount}, withdrawal requests [ts], requests waiting for their grace
        # period [ts, payment id, event id, arrived wall ms]
        "deposits": [],
        "turnover": {},
        "requests": [],
        "pending": [],
        "consumed": {},
        "sums": {},  # running totals of the linked windows: "24h:stake" -> [left, end, sum, n]
        "alerts": {},  # "code|window" -> ts, for open_alerts
        "cdd_required": 0,
        "last_code": "",
    }


class Rules:
    def __init__(
        self,
        st: dict[str, Any],
        cfg: RuleConfig,
        risk: RiskConfig,
        emit: Emitter,
        high_ms: int | None = None,
        seq: int | None = None,
    ) -> None:
        self.st = st
        self.seq = seq
        self.cfg = cfg.aml
        self.fx = risk.fx
        self.emit = emit
        self.now: int = emit.event["occurred_at"]
        # the player's newest event time: windows keep entries LATE_SPANS spans behind it, so
        # a late event can still link with what came before and after it
        self.high: int = max(self.now, high_ms if high_ms is not None else self.now)
        self.threshold = self.cfg.threshold.amount_minor

    def keep_from(self, span_ms: int) -> int:
        """Where a window's entries may be forgotten: LATE_SPANS spans behind the newest event,
        or, for an event older than that (a backfill), one span behind it, so back-dated
        events link with each other while what is newer stays."""
        return min(self.high, self.now + span_ms) - LATE_SPANS * span_ms

    def alert(
        self,
        code: str,
        window: str,
        severity: str,
        evidence: list[str],
        value: int | None = None,
        threshold: int | None = None,
    ) -> bool:
        ttl = self.cfg.alert_ttl_days * DAY_MS
        fired = self.emit.fire(
            code, window, severity, self.now + ttl, value, threshold, evidence=evidence
        )
        if fired:
            self.st["alerts"][f"{code}|{window}"] = self.now
            self.st["last_code"] = code
            if code.startswith("aml_threshold"):
                self.st["cdd_required"] = 1
        return fired

    def eur(self, amount_minor: int, currency: str) -> int:
        return self.fx.convert(amount_minor, currency, self.cfg.threshold.currency)

    # --- the CDD threshold --------------------------------------------------------------------
    def transaction(self, category: str, amount: int, event_id: str) -> None:
        if amount <= 0:
            return
        if amount >= self.threshold:
            self.alert(
                "aml_threshold",
                f"{category}:{event_id}",
                "medium",
                [event_id],
                amount,
                self.threshold,
            )
            return
        span = self.cfg.linked_hours * HOUR_MS
        session = self.st["session"]
        horizon = self.keep_from(span) if session is None else min(self.keep_from(span), session[1])
        self.st["tx"][category] = prune(self.st["tx"][category], horizon)
        items = self.st["tx"][category]
        entry = [self.now, amount, event_id]
        insert_sorted(items, entry)
        # state written before alerts flagged their evidence: its last evidence time
        legacy = self.st["consumed"].get(f"linked:{category}", -1)
        # running totals of the two windows, per category (see `running_total`), trusted only
        # if this code judged the player's previous event: a worker from before the totals
        # existed (a rollback) changes the lists without them, so they are summed afresh
        sums = self.st.setdefault("sums", {})
        if self.seq is None or self.st.get("sums_seq") != self.seq - 1:
            sums.clear()
        # the slots of the two totals (the rolling one is also its windows' name prefix)
        rolling, in_session = f"{self.cfg.linked_hours}h:{category}", f"session:{category}"
        if self.in_time_order(items, entry):  # the one window is the one ending now
            qualified = self._rolling_in_order(items, rolling, span, legacy, horizon, sums)
        else:  # a late entry may complete windows ending at later entries
            qualified = self._rolling_late(items, rolling, span, legacy)
            sums.pop(rolling, None)
            sums.pop(in_session, None)
        if qualified or session is None:
            # marked used, or pruned with no session to keep its window current
            sums.pop(in_session, None)
            return
        left = max(session[1] - 1, legacy)
        window = sums[in_session] = running_total(
            items, sums.get(in_session), left, self.now, TX_USED, horizon
        )
        if window[3] > 1 and window[2] >= self.threshold:
            self._link("aml_threshold_session", f"session:{session[0]}:{category}", items,
                       left, self.now, window[2])  # fmt: skip
            sums[in_session] = [left, self.now, 0, 0]
            sums.pop(rolling, None)

    @staticmethod
    def in_time_order(items: list[list[Any]], entry: list[Any]) -> bool:
        """The entry went in last: no window ends after it."""
        return items[-1] is entry

    def _rolling_in_order(
        self,
        items: list[list[Any]],
        slot: str,
        span: int,
        legacy: int,
        horizon: int,
        sums: dict[str, list[int]],
    ) -> bool:
        """The linked-transactions window ending at the newest entry, from its running total
        (kept in `sums[slot]`)."""
        left = max(self.now - span, legacy)
        window = sums[slot] = running_total(items, sums.get(slot), left, self.now, TX_USED, horizon)
        if window[3] < 2 or window[2] < self.threshold:
            return False
        self._link("aml_threshold_24h", slot, items, left, self.now, window[2])
        sums[slot] = [left, self.now, 0, 0]
        return True

    def _rolling_late(self, items: list[list[Any]], slot: str, span: int, legacy: int) -> bool:
        """Every window a late entry falls into, earliest end first, as `windows_through`
        gives them, each summed from prefix sums (`UnusedTotals`)."""
        qualified = False
        totals = UnusedTotals(items, TX_USED)
        for end in window_ends(items, self.now, span):
            left = max(end - span, legacy)
            total, count = totals.between(left, end)
            if count > 1 and total >= self.threshold:
                qualified = True
                self._link("aml_threshold_24h", slot, items, left, end, total)
                totals.refresh()
        return qualified

    def _link(
        self, code: str, span: str, items: list[list[Any]], left: int, end: int, total: int
    ) -> None:
        """Alert on the unused transactions with left < ts <= end (`total` between them),
        named `<span>@<first of them>`, and mark them used."""
        linked = unused_between(items, left, end, TX_USED)
        self.alert(code, f"{span}@{iso(linked[0][0])}", "medium", [i[2] for i in linked], total,
                   self.threshold)  # fmt: skip
        mark_used(linked, TX_USED)

    # --- events -------------------------------------------------------------------------------
    def on_stake(self, event: dict[str, Any]) -> None:
        amount = self.eur(event["stake_minor"], event["currency"])
        minute = str(self.now // MINUTE_MS)
        self.st["turnover"][minute] = self.st["turnover"].get(minute, 0) + amount
        self.transaction("stake", amount, event["event_id"])

    def on_payout(self, event: dict[str, Any]) -> None:
        self.transaction(
            "payout", self.eur(event["payout_minor"], event["currency"]), event["event_id"]
        )

    def on_deposit(self, event: dict[str, Any], first_seen: bool) -> None:
        """`first_seen`: the first event of this payment id (any status)."""
        event_id = event["event_id"]
        if first_seen:
            self._velocity(event_id)
        if event.get("payer_name_match") is False:
            self.alert(
                "third_party_deposit", f"payment:{event['payment_id']}", "medium", [event_id]
            )
        if event["status"] != "succeeded":
            return
        amount = self.eur(event["amount_minor"], event["currency"])
        insert_sorted(self.st["deposits"], [self.now, amount, event_id])
        self.transaction("deposit", amount, event_id)
        self._structuring(amount, event_id)

    def _velocity(self, event_id: str) -> None:
        rule = self.cfg.velocity
        span = rule.within_minutes * MINUTE_MS
        self.st["attempts"] = prune(self.st["attempts"], self.keep_from(span))
        insert_sorted(self.st["attempts"], [self.now, event_id])
        legacy = self.st["consumed"].get("velocity", -1)
        for used in windows_through(self.st["attempts"], self.now, span, ATTEMPT_USED, legacy):
            if len(used) >= rule.deposits:
                window = f"{rule.within_minutes}m@{iso(used[0][0])}"
                self.alert("velocity", window, "medium", [u[1] for u in used], len(used))
                mark_used(used, ATTEMPT_USED)

    def _structuring(self, amount: int, event_id: str) -> None:
        rule = self.cfg.structuring
        if not rule.low_share * self.threshold <= amount < self.threshold:
            return
        span = rule.within_hours * HOUR_MS
        self.st["near"] = prune(self.st["near"], self.keep_from(span))
        insert_sorted(self.st["near"], [self.now, amount, event_id])
        legacy = self.st["consumed"].get("structuring", -1)
        for used in windows_through(self.st["near"], self.now, span, TX_USED, legacy):
            total = sum(u[1] for u in used)
            if len(used) >= rule.min_deposits and total > self.threshold:
                window = f"{rule.within_hours}h@{iso(used[0][0])}"
                evidence = [u[2] for u in used]
                self.alert("structuring", window, "high", evidence, total, self.threshold)
                mark_used(used, TX_USED)

    def on_withdrawal(
        self, event: dict[str, Any], wall_ms: int, source: tuple[int, float] | None = None
    ) -> None:
        """A withdrawal request is judged for rapid in/out only after a grace period: deposits
        and stakes come on other topics, which Kafka does not order against this one, so
        the judgement waits until, on the player's partitions of `bet.placed` and
        `payment.deposit`, this worker has read a record produced after the request (a
        watermark) or everything there is (`ready`, given `source` = partition and produce
        time), and then counts by event time, whatever the arrival order was. Without a
        source (replayed state, tests) it waits `grace_wall_seconds` instead. The player's own
        event time is no guide: a settlement hours later in event time can arrive before the
        placements it follows, and neither is a wall-clock timeout while the worker is
        behind."""
        if event["status"] != "requested":
            return
        amount = self.eur(event["amount_minor"], event["currency"])
        insert_sorted(self.st["requests"], [self.now])
        partition, produced = source if source is not None else (-1, 0.0)
        self.st["pending"].append(
            [self.now, event["payment_id"], event["event_id"], wall_ms, partition, produced]
        )
        self.transaction("withdrawal", amount, event["event_id"])

    def judge_pending(
        self, high_ms: int, wall_ms: int, ready: Callable[[int, float], bool] | None = None
    ) -> None:
        rule = self.cfg.rapid_in_out
        still = []
        for request in self.st["pending"]:
            _, _, _, arrived, partition, produced = request
            if ready is not None and partition >= 0:
                judge = ready(partition, produced)
            else:
                judge = wall_ms >= arrived + rule.grace_wall_seconds * 1000
            if judge:
                self._rapid_in_out(request)
            else:
                still.append(request)
        self.st["pending"] = still
        horizon = high_ms - (rule.within_hours + 1) * HOUR_MS
        if self.st["deposits"] and self.st["deposits"][0][0] < horizon:
            self.st["deposits"] = prune(self.st["deposits"], horizon)
            self.st["requests"] = prune(self.st["requests"], horizon)
            first = str(horizon // MINUTE_MS)
            self.st["turnover"] = {
                m: v for m, v in self.st["turnover"].items() if len(m) > len(first) or m >= first
            }

    def _rapid_in_out(self, request: list[Any]) -> None:
        """Deposits since the previous request (within `within_hours`) against the stakes
        placed from the first of them up to this request."""
        at, payment_id, event_id = request[:3]
        rule = self.cfg.rapid_in_out
        previous = max((r[0] for r in self.st["requests"] if r[0] < at), default=-1)
        deposits = within(self.st["deposits"], max(previous, at - rule.within_hours * HOUR_MS), at)
        if not deposits:
            return
        deposited = sum(d[1] for d in deposits)
        first, last = deposits[0][0] // MINUTE_MS, at // MINUTE_MS
        turnover = sum(v for m, v in self.st["turnover"].items() if first <= int(m) <= last)
        if Decimal(turnover) < rule.turnover_share * deposited:
            self.alert(
                "rapid_in_out",
                f"withdrawal:{payment_id}",
                "medium",
                [*(d[2] for d in deposits[-20:]), event_id],
                value=turnover,
                threshold=deposited,
            )

    def on_session(self, event: dict[str, Any]) -> None:
        if event["kind"] == "login":
            self.st["session"] = [event["session_id"], self.now]
        elif event["kind"] == "logout" and (self.st["session"] or [None])[0] == event["session_id"]:
            self.st["session"] = None

    def on_instrument_hit(self, hit: dict[str, Any]) -> None:
        self.alert(
            "shared_instrument",
            f"instrument:{hit['instrument_hash']}",
            "high",
            hit["evidence"],
            value=len(hit["players"]),
            threshold=self.cfg.shared_instrument.players,
        )


def read_model(st: dict[str, Any], now: int, cfg: RuleConfig) -> dict[str, str | int]:
    horizon = now - cfg.aml.alert_ttl_days * DAY_MS
    st["alerts"] = {k: ts for k, ts in st["alerts"].items() if ts >= horizon}
    return {
        "cdd_required": st["cdd_required"],
        "open_alerts": len(st["alerts"]),
        "last_code": st["last_code"],
    }


def on_instrument_use(
    st: dict[str, Any], use: dict[str, Any], cfg: RuleConfig
) -> list[dict[str, Any]]:
    """State keyed by (tenant, instrument): which players used it in the last N days. Returns
    one hit per player to notify (each player once per instrument), to be sent back to the
    player-keyed topic so the player's own worker raises the alert and updates its read model.
    """
    rule = cfg.aml.shared_instrument
    players: dict[str, list[Any]] = st.setdefault("players", {})
    notified: list[str] = st.setdefault("notified", [])
    now = use["occurred_at"]
    seen = players.get(use["player_id"])
    if seen is None or seen[0] < now:
        players[use["player_id"]] = [now, use["brand_id"], use["jurisdiction"], use["event_id"]]
    horizon = now - rule.days * DAY_MS
    for player in [p for p, v in players.items() if v[0] < horizon]:
        del players[player]
    if len(players) < rule.players:
        return []
    hits = []
    evidence = sorted(v[3] for v in players.values())
    for player, (_, brand, jurisdiction, _) in sorted(players.items()):
        if player in notified:
            continue
        notified.append(player)
        hits.append(
            {
                "player_id": player,
                "tenant_id": use["tenant_id"],
                "brand_id": brand,
                "jurisdiction": jurisdiction,
                "instrument_hash": use["instrument_hash"],
                "players": sorted(players),
                "evidence": evidence,
                "occurred_at": now,
                # one id per (instrument, player): the player's replay memory skips repeats
                "event_id": f"instrument-hit:{use['instrument_hash']}:{player}",
                "trace_id": use.get("trace_id"),
            }
        )
    return hits


def _rules(ctx: Context, st: State) -> Rules:
    return Rules(st, ctx.cfg, ctx.risk, ctx.emitter(TOPIC), ctx.high_ms, ctx.seq)


USE_FIELDS = (
    "player_id",
    "tenant_id",
    "brand_id",
    "jurisdiction",
    "instrument_hash",
    "event_id",
    "occurred_at",
    "trace_id",
)


def _share_instrument(ctx: Context, event: Event) -> None:
    """A payment's first event sends its instrument to the (tenant, instrument) repartition,
    where `on_instrument_use` counts the players who share it."""
    if ctx.first_seen and event["instrument_hash"]:
        use = {name: event[name] for name in USE_FIELDS}
        key = f"{event['tenant_id']}:{event['instrument_hash']}"
        ctx.records.append(Record(INSTRUMENT_USES, key, use))


def _on_deposit(ctx: Context, st: State, event: Event) -> None:
    _rules(ctx, st).on_deposit(event, ctx.first_seen)
    _share_instrument(ctx, event)


def _on_withdrawal(ctx: Context, st: State, event: Event) -> None:
    _rules(ctx, st).on_withdrawal(event, ctx.wall_ms, ctx.source)
    _share_instrument(ctx, event)


def after_event(ctx: Context, st: State, event: Event) -> None:
    """After every event this code judges: the running totals are current as of it."""
    if ctx.seq is not None:
        st["sums_seq"] = ctx.seq
    _judge_pending(ctx, st, event)


def _judge_pending(ctx: Context, st: State, event: Event) -> None:
    if st["pending"]:
        _rules(ctx, st).judge_pending(ctx.high_ms, ctx.wall_ms, ctx.read_past)


RULE = Rule(
    name="aml",
    topic=TOPIC,
    new_state=new_state,
    handlers={
        "bet_placed": lambda ctx, st, e: _rules(ctx, st).on_stake(e),
        "bet_settled": lambda ctx, st, e: _rules(ctx, st).on_payout(e),
        "payment_deposit": _on_deposit,
        "payment_withdrawal": _on_withdrawal,
        "player_session": lambda ctx, st, e: _rules(ctx, st).on_session(e),
        "instrument_hit": lambda ctx, st, e: _rules(ctx, st).on_instrument_hit(e),
    },
    read_model=lambda st, now, cfg, risk: read_model(st, now, cfg),
    after=after_event,
)
