"""Builders for rule scenarios: events as upstream would send them, times in UTC."""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from agents.rules import player as rules
from agents.rules.config import default
from foundation.settings import get_settings
from tests.samples import event as sample_event

RISK = default()

if TYPE_CHECKING:  # the runner imports the Faust app: only the tests that need it load it
    from agents.runner import BatchState


class DictTable(dict):  # type: ignore[type-arg]
    """A table stand-in for the pure handler: BatchState only needs `.name` and `.get`."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


def handler_batch(now_ms: int) -> BatchState:
    """A BatchState as the runner hands it to the player agent's handler, its current event
    produced at `now_ms` on partition 0."""
    from agents.runner import BatchState

    batch = BatchState()
    batch.event = SimpleNamespace(message=SimpleNamespace(partition=0, timestamp=now_ms / 1000))
    return batch


@contextlib.contextmanager
def player_tables_as_dicts() -> Iterator[dict[str, DictTable]]:
    """The player agent's tables as dicts while the block runs (restored after it)."""
    from agents import players, settlement

    saved = players.player_risk, settlement.open_bets
    tables = {"player_risk": DictTable("player_risk"), "open_bets": DictTable("open_bets")}
    players.player_risk = tables["player_risk"]  # type: ignore[assignment]
    settlement.open_bets = tables["open_bets"]  # type: ignore[assignment]
    try:
        yield tables
    finally:
        players.player_risk, settlement.open_bets = saved


_ids = itertools.count(1)


def utc(text: str) -> int:
    """'2026-03-29T00:30' (UTC) → epoch milliseconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def _common(ts: int, jurisdiction: str, player: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": ts,
        "tenant_id": "t1",
        "brand_id": "b1",
        "jurisdiction": jurisdiction,
        "player_id": player,
        "trace_id": None,
    }


def deposit(
    ts: int,
    amount: int,
    currency: str = "GBP",
    status: str = "succeeded",
    jurisdiction: str = "UKGC",
    player: str = "p1",
    payment_id: str | None = None,
    payer_name_match: bool | None = True,
    instrument: str = "card-1",
) -> tuple[str, dict]:
    return "payment_deposit", sample_event(
        "payment_deposit",
        **_common(ts, jurisdiction, player),
        payment_id=payment_id or f"d{next(_ids)}",
        status=status,
        amount_minor=amount,
        currency=currency,
        method="card",
        instrument_hash=instrument,
        psp="adyen",
        payer_name_match=payer_name_match,
    )


def withdrawal(
    ts: int,
    amount: int,
    status: str,
    currency: str = "GBP",
    jurisdiction: str = "UKGC",
    payment_id: str | None = None,
) -> tuple[str, dict]:
    return "payment_withdrawal", sample_event(
        "payment_withdrawal",
        **_common(ts, jurisdiction, "p1"),
        payment_id=payment_id or f"w{next(_ids)}",
        status=status,
        amount_minor=amount,
        currency=currency,
        method="bank",
        instrument_hash="bank-1",
    )


def stake(
    ts: int,
    amount: int,
    currency: str = "GBP",
    jurisdiction: str = "UKGC",
    bet_id: str | None = None,
) -> tuple[str, dict]:
    return "bet_placed", sample_event(
        "bet_placed",
        **_common(ts, jurisdiction, "p1"),
        bet_id=bet_id or f"b{next(_ids)}",
        product="casino",
        provider="evo",
        market_id="m",
        stake_minor=amount,
        bonus_stake_minor=0,
        currency=currency,
        odds=None,
        event_start_at=None,
    )


def payout(
    ts: int, amount: int, bet_id: str, currency: str = "GBP", jurisdiction: str = "UKGC"
) -> tuple[str, dict]:
    return "bet_settled", sample_event(
        "bet_settled",
        **_common(ts, jurisdiction, "p1"),
        bet_id=bet_id,
        outcome="won",
        payout_minor=amount,
        currency=currency,
    )


def session(
    ts: int, kind: str, session_id: str = "s1", jurisdiction: str = "UKGC"
) -> tuple[str, dict]:
    return "player_session", sample_event(
        "player_session",
        **_common(ts, jurisdiction, "p1"),
        session_id=session_id,
        kind=kind,
        device_hash="dev",
        ip_country="GB",
    )


def limit(
    ts: int,
    limit_type: str,
    period: str,
    amount: int | None,
    until: int | None = None,
    jurisdiction: str = "UKGC",
) -> tuple[str, dict]:
    return "player_limit", sample_event(
        "player_limit",
        **_common(ts, jurisdiction, "p1"),
        limit_type=limit_type,
        period=period,
        amount=amount,
        until=until,
    )


def ledger(
    ts: int,
    kind: str,
    balance: int | None,
    jurisdiction: str = "UKGC",
    amount: int = 0,
    currency: str = "GBP",
    stem: str = "ledger_cdc",
) -> tuple[str, dict]:
    """A player leg as the rules see it (after `agents.rules.player.ledger_event`): a cash
    leg by default."""
    entry = next(_ids)
    return stem, {
        "event_id": f"ledger-entry:{entry}",
        "occurred_at": ts,
        "tenant_id": "t1",
        "brand_id": "b1",
        "jurisdiction": jurisdiction,
        "player_id": "p1",
        "trace_id": None,
        "kind": kind,
        "amount_minor": amount,
        "currency": currency,
        "balance_after_minor": balance,
        "transfer_id": f"tr{entry}",
        "entry_id": entry,
    }


def bonus_leg(
    ts: int, kind: str, amount: int, currency: str = "GBP", jurisdiction: str = "UKGC"
) -> tuple[str, dict]:
    """A leg on the player's bonus account (bonus_grant +A, bonus_convert and bonus_forfeit
    -A), as the wagering rule sees it."""
    return ledger(ts, kind, None, jurisdiction, amount, currency, stem="ledger_bonus")


class Player:
    """One player's state run through the rules, collecting what fired."""

    def __init__(self, *topics: str) -> None:
        """Only signals of `topics` are collected (all when none are given)."""
        self.topics = topics
        self.state = rules.new_player()
        self.signals: list[Any] = []
        self.sends: list[Any] = []

    def feed(self, *events: tuple[str, dict], wall_ms: int | None = None) -> list[tuple[str, str]]:
        """Apply events in order; returns (code, window) of the signals they fired. `wall_ms`:
        the worker's clock (default now)."""
        fired = []
        for stem, event in events:
            wall = int(time.time() * 1000) if wall_ms is None else wall_ms
            env = rules.Env(RISK, get_settings().dedup_memory_ms, wall)
            applied = rules.apply_event(self.state, stem, event, env)
            if applied is None:
                continue
            signals, sends = applied
            signals = [s for s in signals if not self.topics or s.topic in self.topics]
            self.signals += signals
            self.sends += sends
            fired += [(s.code, s.window) for s in signals]
        return fired

    def codes(self, *events: tuple[str, dict]) -> list[str]:
        return [code for code, _ in self.feed(*events)]

    def limits_model(self, now: int, jurisdiction: str = "UKGC") -> dict[str, Any]:
        from agents.rules import limits

        cfg = RISK.rules("t1", jurisdiction)
        return limits.read_model(self.state["limits"], now, cfg, RISK)
