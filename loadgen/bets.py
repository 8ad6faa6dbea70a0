"""Synthetic bets for the first slice: placements, settlements, and the awkward cases.

Deterministic for a seed. A share of settlements is sent twice, and a share is sent *before*
its placement, because that is what a real settlement feed does after a retry or a reorder.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from foundation.units import HOUR_MS

PRODUCTS = ("sportsbook", "casino", "live_casino", "poker")
PROVIDERS = {
    "sportsbook": ("kambi", "sbtech"),
    "casino": ("netent", "pragmatic"),
    "live_casino": ("evolution",),
    "poker": ("ipoker",),
}
BRANDS = {"UKGC": ("GBP", "brand-uk"), "MGA": ("EUR", "brand-mt"), "SE": ("SEK", "brand-se")}


@dataclass
class BetTraffic:
    """Events in send order, and what the open-bets read model must show afterwards."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    expected: dict[str, tuple[int, int]] = field(default_factory=dict)  # player -> count, stake


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate(
    tenant: str,
    bets: int,
    players: int = 200,
    settle_share: float = 0.7,
    duplicate_share: float = 0.05,
    early_share: float = 0.05,
    seed: int = 7,
    start_ms: int = 1_767_225_600_000,  # 2026-01-01T00:00:00Z
) -> BetTraffic:
    rng = random.Random(seed)
    roster = []
    for i in range(players):
        jurisdiction = rng.choice(list(BRANDS))
        currency, brand = BRANDS[jurisdiction]
        roster.append((f"{tenant}-p{i:05d}", jurisdiction, currency, brand))
    traffic = BetTraffic()
    late_placements: list[tuple[str, dict[str, Any]]] = []
    open_by_player: dict[str, dict[str, int]] = {p[0]: {} for p in roster}
    clock = start_ms
    for n in range(bets):
        clock += rng.randint(1, 400)
        player, jurisdiction, currency, brand = rng.choice(roster)
        product = rng.choices(PRODUCTS, weights=(5, 8, 3, 1))[0]
        stake = int(rng.paretovariate(1.3) * 100)  # heavy tail, minor units
        bonus = rng.choice((0, 0, 0, 50))
        common = {
            "occurred_at": clock,
            "tenant_id": tenant,
            "brand_id": brand,
            "jurisdiction": jurisdiction,
            "player_id": player,
            "trace_id": _uuid(rng),
        }
        bet_id = f"bet-{tenant}-{n}"
        placed = {
            **common,
            "event_id": _uuid(rng),
            "bet_id": bet_id,
            "product": product,
            "provider": rng.choice(PROVIDERS[product]),
            "market_id": f"m{rng.randint(1, 500)}" if product == "sportsbook" else None,
            "stake_minor": stake,
            "bonus_stake_minor": bonus,
            "currency": currency,
            "odds": round(rng.uniform(1.1, 9.0), 2) if product == "sportsbook" else None,
            "event_start_at": clock + rng.randint(0, HOUR_MS) if product == "sportsbook" else None,
        }
        settles = rng.random() < settle_share
        settled = {
            **common,
            "event_id": _uuid(rng),
            "occurred_at": clock + rng.randint(500, 7_200_000),
            "bet_id": bet_id,
            "outcome": rng.choice(("won", "lost", "lost", "void", "cashout")),
            "payout_minor": rng.choice((0, stake * 2)),
            "currency": currency,
        }
        if settles and rng.random() < early_share:
            traffic.events.append(("bet.settled", settled))
            late_placements.append(("bet.placed", placed))
            continue
        traffic.events.append(("bet.placed", placed))
        if settles:
            traffic.events.append(("bet.settled", settled))
            if rng.random() < duplicate_share:
                traffic.events.append(("bet.settled", dict(settled)))  # redelivery
        else:
            open_by_player[player][bet_id] = stake + bonus
    traffic.events.extend(late_placements)
    traffic.expected = {p: (len(bets_), sum(bets_.values())) for p, bets_ in open_by_player.items()}
    return traffic
