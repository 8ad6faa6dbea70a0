"""A synthetic operator: players, sessions, bets, payments and injected risk patterns.

`simulate()` is pure and deterministic for (seed, start_ms): it returns every action in
simulated-time order — ledger postings (deposits, withdrawals, stakes, wins go through
`ledger.post_transfer`, so KPIs come from real money) and contract events for Kafka — plus
ground-truth labels for the injected patterns. `loadgen/runner.py` plays it against the
stack.

Normal players are built so that they trip none of the labelled rules, which is what makes
precision measurable: stakes are heavy-tailed *across* players (Pareto base stake) but steady
*within* a player (0.8-1.2 x base, so never 3 x the median); one deposit, sized to cover
every stake; a withdrawal only after turnover passed 60 % of the deposit; an instrument of
their own; sessions under 2 h.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from foundation.units import HOUR_MS, MINUTE_MS

JURISDICTIONS = {  # jurisdiction → (currency, brand suffix, minor units per EUR, roughly)
    "UKGC": ("GBP", "uk", 0.87),
    "MGA": ("EUR", "mt", 1.0),
    "SE": ("SEK", "se", 11.5),
    "DE": ("EUR", "de", 1.0),
    "ON": ("CAD", "on", 1.47),
}
# the operator's bonus terms as the simulation applies them (the worker's are in risk.toml)
BONUS_MULTIPLIER = 35
CONTRIBUTION_PCT = {"sportsbook": 100, "casino": 100, "live_casino": 10}
PATTERNS = (
    "structuring",
    "rapid_in_out",
    "shared_instrument",
    "velocity",
    "loss_chasing",
    "stake_escalation",
    "stuck_bet",
)


@dataclass(frozen=True)
class Post:
    """One `ledger.post_transfer` call."""

    key: str
    kind: str
    tenant: str
    brand: str
    player: str
    currency: str
    amount_minor: int


@dataclass(frozen=True)
class Action:
    at_ms: int
    seq: int
    player: str
    topic: str | None = None  # a Kafka event …
    record: dict[str, Any] | None = None
    post: Post | None = None  # … or a ledger posting


@dataclass(frozen=True)
class PlayerSpec:
    tenant: str
    brand: str
    jurisdiction: str
    player: str
    currency: str


@dataclass
class Traffic:
    actions: list[Action] = field(default_factory=list)
    labels: list[dict[str, str]] = field(default_factory=list)
    players: list[PlayerSpec] = field(default_factory=list)
    kickoff_ms: int = 0
    tenants: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        events = sum(1 for a in self.actions if a.topic)
        return {
            "events": events,
            "postings": len(self.actions) - events,
            "players": len(self.players),
            "labels": len(self.labels),
        }


class _Sim:
    def __init__(self, tenant: str, seed: int, start_ms: int, hours: float) -> None:
        self.rng = random.Random(seed)
        self.tenant = tenant
        # two operators on one platform: the second tenant's ids and keys never mix with the
        # first's (state, read models and marts are per tenant)
        self.tenants = (tenant, f"{tenant}-b")
        self.start = start_ms
        self.end = start_ms + int(hours * HOUR_MS)
        self.out = Traffic(tenants=self.tenants)
        self.seq = 0
        self.balance: dict[str, int] = {}
        self.kickoff = start_ms + (self.end - start_ms) // 2  # the final
        self.out.kickoff_ms = self.kickoff
        self.matches = [
            *sorted(self.rng.randint(start_ms, self.end - HOUR_MS) for _ in range(8)),
            self.kickoff,
        ]

    # --- primitives ------------------------------------------------------------------------
    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def player(self, index: int, jurisdiction: str, tenant: str | None = None) -> PlayerSpec:
        currency, suffix, _ = JURISDICTIONS[jurisdiction]
        tenant = tenant or self.tenants[index % len(self.tenants)]
        spec = PlayerSpec(
            tenant, f"{tenant}-{suffix}", jurisdiction, f"{tenant}-p{index:05d}", currency
        )
        self.out.players.append(spec)
        self.balance[spec.player] = 0
        return spec

    def _add(self, at: int, p: PlayerSpec, **kw: Any) -> None:
        self.seq += 1
        self.out.actions.append(Action(at, self.seq, p.player, **kw))

    def event(self, at: int, p: PlayerSpec, topic: str, **fields: Any) -> dict[str, Any]:
        record = {
            "event_id": self.uuid(),
            "occurred_at": at,
            "tenant_id": p.tenant,
            "brand_id": p.brand,
            "jurisdiction": p.jurisdiction,
            "player_id": p.player,
            "trace_id": self.uuid(),
            **fields,
        }
        self._add(at, p, topic=topic, record=record)
        return record

    def post(self, at: int, p: PlayerSpec, kind: str, amount: int) -> None:
        delta = {
            "deposit": amount,
            "win": amount,
            "refund": amount,
            "stake": -amount,
            "withdrawal": -amount,
            "bonus_grant": 0,  # on the bonus account
            "bonus_forfeit": 0,
            "bonus_convert": amount,  # bonus account → cash
        }[kind]
        self.balance[p.player] += delta
        assert self.balance[p.player] >= 0, "the simulation must never overdraw"
        self._add(
            # ledger keys are global: scope them by tenant, so a seed can be replayed elsewhere
            at,
            p,
            post=Post(
                f"{p.tenant}:{self.uuid()}", kind, p.tenant, p.brand, p.player, p.currency, amount
            ),
        )

    def deposit(
        self, at: int, p: PlayerSpec, amount: int, instrument: str, payer_match: bool | None = True
    ) -> None:
        payment = self.uuid()
        common = {
            "payment_id": payment,
            "amount_minor": amount,
            "currency": p.currency,
            "method": "card",
            "instrument_hash": instrument,
            "psp": "adyen",
            "payer_name_match": payer_match,
        }
        self.event(at, p, "payment.deposit", status="requested", **common)
        self.post(at + 1, p, "deposit", amount)
        self.event(at + 2, p, "payment.deposit", status="succeeded", **common)

    def withdraw(self, at: int, p: PlayerSpec, amount: int, instrument: str) -> None:
        payment = self.uuid()
        common = {
            "payment_id": payment,
            "amount_minor": amount,
            "currency": p.currency,
            "method": "bank",
            "instrument_hash": instrument,
        }
        self.event(at, p, "payment.withdrawal", status="requested", **common)
        self.post(at + 1, p, "withdrawal", amount)
        self.event(at + 2, p, "payment.withdrawal", status="paid", **common)

    def bet(
        self,
        at: int,
        p: PlayerSpec,
        stake: int,
        product: str,
        win: bool,
        odds: float = 2.0,
        start_at: int | None = None,
        settle_at: int | None = None,
    ) -> None:
        bet_id = self.uuid()
        provider = {"sportsbook": "kambi", "casino": "pragmatic", "live_casino": "evolution"}
        self.post(at, p, "stake", stake)
        self.event(
            at + 1,
            p,
            "bet.placed",
            bet_id=bet_id,
            product=product,
            provider=provider[product],
            market_id=f"m-{start_at or 0}",
            stake_minor=stake,
            bonus_stake_minor=0,
            currency=p.currency,
            odds=odds if product == "sportsbook" else None,
            event_start_at=start_at,
        )
        if settle_at is None:
            return  # stays open
        payout = int(stake * odds) if win else 0
        if payout:
            self.post(settle_at, p, "win", payout)
        self.event(
            settle_at + 1,
            p,
            "bet.settled",
            bet_id=bet_id,
            outcome="won" if win else "lost",
            payout_minor=payout,
            currency=p.currency,
        )

    def session(self, p: PlayerSpec, login: int, logout: int) -> None:
        sid = self.uuid()
        device = f"dev-{p.player}"
        self.event(
            login,
            p,
            "player.session",
            session_id=sid,
            kind="login",
            device_hash=device,
            ip_country="GB",
        )
        for at in range(login + 10 * MINUTE_MS, logout, 10 * MINUTE_MS):
            self.event(
                at,
                p,
                "player.session",
                session_id=sid,
                kind="heartbeat",
                device_hash=device,
                ip_country="GB",
            )
        self.event(
            logout,
            p,
            "player.session",
            session_id=sid,
            kind="logout",
            device_hash=device,
            ip_country="GB",
        )

    def eur(self, p: PlayerSpec, euros: float) -> int:
        """Minor units of the player's currency worth about `euros`."""
        return int(euros * 100 * JURISDICTIONS[p.jurisdiction][2])

    # --- a normal player -------------------------------------------------------------------
    def normal(self, index: int) -> None:
        rng = self.rng
        p = self.player(index, rng.choice(list(JURISDICTIONS)))
        pareto = int(self.eur(p, 1) * rng.paretovariate(1.5))
        base = min(self.eur(p, 50), max(self.eur(p, 0.2), pareto))
        top = int(base * 1.2)  # stakes are 0.8-1.2 x base
        cap = self.eur(p, 110 if p.jurisdiction == "UKGC" else 900)  # under every threshold
        withdraws = rng.random() < 0.2
        bets = max(1, min(rng.randint(5, 40), cap // (2 * top)))
        length = rng.randint(20, 110) * MINUTE_MS
        if rng.random() < 0.3:  # in the crowd that logs in for the final
            login = self.kickoff - rng.randint(10 * MINUTE_MS, length - 5 * MINUTE_MS)
        else:
            login = rng.randint(self.start, self.end - length)
        login = max(self.start, min(login, self.end - length))
        logout = login + length
        self.session(p, login, logout)
        # The deposit covers every stake even if nothing wins, whatever order they land in
        # (a withdrawer deposits just that, so turnover is at least 2/3 of the deposit).
        deposit = bets * top if withdraws else 2 * bets * top
        self.deposit(login + 1000, p, deposit, f"card-{p.player}")
        if rng.random() < 0.1:
            self.event(
                login + 500,
                p,
                "player.limit",
                limit_type="deposit",
                period="day",
                amount=2 * cap,
                until=None,
            )
        # one player in eight gets a welcome bonus at login (no random draw: the rest of the
        # simulation stays what it was for a seed)
        bonus = self.eur(p, 0.5) if index % 8 == 3 else 0
        if bonus:
            self.post(login + 1500, p, "bonus_grant", bonus)
        turnover = wagered = 0
        for _ in range(bets):
            stake = max(1, int(base * rng.uniform(0.8, 1.2)))
            at = rng.randint(login + 2000, logout - 60_000)
            roll = rng.random()
            in_final = login + 5 * MINUTE_MS < self.kickoff < logout
            later = [m for m in self.matches if m > at + MINUTE_MS]
            if roll < (0.6 if in_final else 0.3) and (in_final or later):
                if in_final and rng.random() < 0.9:  # the kick-off burst
                    match = self.kickoff
                    at = self.kickoff - rng.randint(1000, 5 * MINUTE_MS)
                else:
                    match = rng.choice(later) if later else self.kickoff
                settle = match + rng.randint(100, 115) * MINUTE_MS
                product = "sportsbook"
                self.bet(
                    at,
                    p,
                    stake,
                    "sportsbook",
                    rng.random() < 0.4,
                    round(rng.uniform(1.5, 3.0), 2),
                    match,
                    settle if settle < self.end else None,
                )
            else:
                product = "casino" if roll < 0.85 else "live_casino"
                self.bet(
                    at,
                    p,
                    stake,
                    product,
                    rng.random() < 0.45,
                    2.0,
                    None,
                    at + rng.randint(3, 60) * 1000,
                )
            turnover += stake
            wagered += stake * CONTRIBUTION_PCT[product] // 100
        if withdraws and deposit > turnover:
            self.withdraw(logout + MINUTE_MS, p, deposit - turnover, f"bank-{p.player}")
        if bonus:
            # the operator converts a bonus whose wagering its terms (the strictest, 35x) saw
            # met, and forfeits the others when the session ends
            met = wagered >= BONUS_MULTIPLIER * bonus
            self.post(logout + 2 * MINUTE_MS, p, "bonus_convert" if met else "bonus_forfeit", bonus)

    # --- injected patterns ---------------------------------------------------------------
    def label(self, p: PlayerSpec, code: str) -> None:
        self.out.labels.append({"tenant_id": p.tenant, "player_id": p.player, "code": code})

    def inject(self, pattern: str, index: int) -> None:
        rng = self.rng
        t = rng.randint(self.start + HOUR_MS // 2, self.end - 2 * HOUR_MS)
        if pattern == "shared_instrument":
            card = f"card-shared-{self.uuid()[:8]}"
            tenant = self.tenants[index % len(self.tenants)]  # one instrument, one tenant
            for k in range(3):
                p = self.player(index + k, "MGA", tenant)
                self.deposit(t + k * 7 * MINUTE_MS, p, self.eur(p, 50), card)
                self.label(p, pattern)
            return
        p = self.player(index, "MGA")
        own = f"card-{p.player}"
        self.label(p, pattern)
        if pattern == "structuring":
            for k in range(3):
                self.deposit(t + k * 30 * MINUTE_MS, p, self.eur(p, rng.uniform(1700, 1950)), own)
        elif pattern == "rapid_in_out":
            self.deposit(t, p, self.eur(p, 500), own)
            self.bet(
                t + 5 * MINUTE_MS, p, self.eur(p, 50), "casino", False, 2.0, None, t + 6 * MINUTE_MS
            )
            self.withdraw(t + 10 * MINUTE_MS, p, self.eur(p, 400), own)
        elif pattern == "velocity":
            for k in range(10):
                self.deposit(t + k * 3 * MINUTE_MS, p, self.eur(p, 20), own)
        elif pattern == "loss_chasing":
            self.deposit(t, p, self.eur(p, 100), own)
            for k in range(10):
                self.bet(
                    t + (k + 1) * MINUTE_MS,
                    p,
                    self.eur(p, 10),
                    "casino",
                    False,
                    2.0,
                    None,
                    t + (k + 1) * MINUTE_MS + 5000,
                )
            self.deposit(t + 13 * MINUTE_MS, p, self.eur(p, 50), own)
        elif pattern == "stake_escalation":
            self.deposit(t, p, self.eur(p, 500), own)
            for k in range(15):
                self.bet(
                    t + (k + 1) * MINUTE_MS,
                    p,
                    self.eur(p, 10),
                    "casino",
                    True,
                    2.0,
                    None,
                    t + (k + 1) * MINUTE_MS + 5000,
                )
            for k in range(3):
                self.bet(
                    t + (20 + 5 * k) * MINUTE_MS,
                    p,
                    self.eur(p, 40),
                    "casino",
                    True,
                    2.0,
                    None,
                    t + (20 + 5 * k) * MINUTE_MS + 5000,
                )
        elif pattern == "stuck_bet":
            placed = self.start - 8 * HOUR_MS
            self.deposit(placed - MINUTE_MS, p, self.eur(p, 100), own)
            self.bet(placed, p, self.eur(p, 20), "sportsbook", False, 2.0, placed + HOUR_MS)
            self.bet(t, p, self.eur(p, 5), "casino", False, 2.0, None, t + 5000)
        else:
            raise ValueError(f"unknown pattern {pattern!r}; known: {', '.join(PATTERNS)}")


def simulate(
    tenant: str, players: int, seed: int, start_ms: int, hours: float = 4.0, per_pattern: int = 5
) -> Traffic:
    """Every action of `players` normal players and `per_pattern` players per injected
    pattern, sorted by simulated time."""
    sim = _Sim(tenant, seed, start_ms, hours)
    for i in range(players):
        sim.normal(i)
    index = players
    for pattern in PATTERNS:
        for _ in range(per_pattern):
            sim.inject(pattern, index)
            index += 3 if pattern == "shared_instrument" else 1
    sim.out.actions.sort(key=lambda a: (a.at_ms, a.seq))
    return sim.out


def kafka_events(
    prefix: str, start_ms: int, players: int = 2000
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Endless (topic, record) Kafka events of simulated operators, one simulation after
    another (tenants `<prefix>-<n>`, seed n): backlogs and background load for benchmarks.
    Ledger postings are left out: they are not Kafka events."""
    for chunk in itertools.count():
        traffic = simulate(f"{prefix}-{chunk}", players, chunk, start_ms, per_pattern=2)
        for action in traffic.actions:
            if action.topic is not None and action.record is not None:
                yield action.topic, action.record
