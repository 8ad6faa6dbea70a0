"""A scripted day through Kafka → `wagerstream marts sink` → ClickHouse KPI marts, with every
expected figure worked out by hand below; then the whole input redelivered twice."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from tests.samples import event
from tests.unit.rules_helpers import utc
from topics.admin import consumer_lag
from topics.catalogue import FACT_TOPICS

pytestmark = pytest.mark.integration
D, D1, D_PREV, D40 = "2026-06-10", "2026-06-11", "2026-06-09", "2026-07-20"


class Script:
    """Ledger entries as the CDC relay would publish them: a player leg and a house leg per
    transfer (bonus_convert: bonus and cash legs), with running balances."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.records: list[tuple[str, dict]] = []
        self.lsn = 10**9
        self.entry = 0
        self.balances: dict[tuple[str, str], int] = {}

    def _leg(self, at: int, player: str | None, account: str, kind: str, amount: int) -> dict:
        self.entry += 1
        balance = None
        if player is not None:
            key = (player, account)
            balance = self.balances[key] = self.balances.get(key, 0) + amount
        return {
            "op": "c",
            "lsn": self.lsn,
            "tx_id": self.lsn,
            "commit_ts": at,
            "table": "ledger.entries",
            "after": {
                "transfer_id": f"tr-{self.lsn}",
                "entry_id": self.entry,
                "account_kind": account,
                "player_id": player,
                "tenant_id": self.tenant,
                "brand_id": "b1",
                "jurisdiction": "UKGC",
                "kind": kind,
                "amount_minor": amount,
                "currency": "GBP",
                "balance_after_minor": balance,
                "idempotency_key": f"k-{self.lsn}",
                "created_at": at,
            },
        }

    def post(self, when: str, player: str, kind: str, amount: int) -> None:
        at = utc(when)
        self.lsn += 1
        sign = {
            "deposit": 1,
            "win": 1,
            "refund": 1,
            "bonus_grant": 1,
            "bonus_win": 1,
            "stake": -1,
            "withdrawal": -1,
            "bonus_stake": -1,
            "bonus_forfeit": -1,
        }
        if kind == "bonus_convert":
            legs = [(player, "bonus", -amount), (player, "cash", amount)]
        else:
            account = "bonus" if kind.startswith("bonus") else "cash"
            legs = [(player, account, sign[kind] * amount), (None, "house", -sign[kind] * amount)]
        for who, account, value in legs:
            record = self._leg(at, who, account, kind, value)
            self.records.append(("ledger.cdc", record))

    def bet(self, placed: str, settle_after_s: int, player: str) -> None:
        bet_id = f"{self.tenant}-{len(self.records)}"
        common = {
            "occurred_at": utc(placed),
            "tenant_id": self.tenant,
            "brand_id": "b1",
            "jurisdiction": "UKGC",
            "player_id": player,
            "trace_id": None,
            "bet_id": bet_id,
            "currency": "GBP",
        }
        self.records.append(
            (
                "bet.placed",
                event(
                    "bet_placed",
                    **common,
                    product="casino",
                    provider="evo",
                    market_id="m",
                    stake_minor=100,
                    bonus_stake_minor=0,
                    odds=None,
                    event_start_at=None,
                ),
            )
        )
        self.records.append(
            (
                "bet.settled",
                event(
                    "bet_settled",
                    **{**common, "occurred_at": utc(placed) + settle_after_s * 1000},
                    outcome="lost",
                    payout_minor=0,
                ),
            )
        )


def scripted_day(tenant: str) -> Script:
    s = Script(tenant)
    s.post(f"{D_PREV}T12:00", "carol", "deposit", 3000)  # carol's FTD is the day before
    s.post(f"{D}T09:00", "alice", "deposit", 10000)  # FTD
    s.post(f"{D}T09:10", "alice", "stake", 2000)
    s.post(f"{D}T09:20", "alice", "stake", 3000)
    s.post(f"{D}T09:30", "alice", "win", 1500)
    s.post(f"{D}T10:00", "alice", "bonus_grant", 500)
    s.post(f"{D}T10:05", "alice", "bonus_stake", 500)
    s.post(f"{D}T10:10", "alice", "bonus_win", 800)
    s.post(f"{D}T10:20", "alice", "bonus_convert", 800)
    s.post(f"{D}T11:00", "bob", "deposit", 5000)  # FTD
    s.post(f"{D}T11:05", "bob", "stake", 5000)
    s.post(f"{D}T12:00", "carol", "deposit", 2000)  # not an FTD
    s.post(f"{D}T12:05", "carol", "stake", 1000)
    s.post(f"{D}T12:10", "carol", "refund", 1000)  # the bet was voided
    s.post(f"{D}T12:20", "carol", "withdrawal", 500)
    s.post(f"{D1}T09:00", "alice", "stake", 1000)  # alice comes back on D+1, bob does not
    s.post(f"{D40}T09:00", "alice", "stake", 2000)  # day 40: in LTV, not in 30-day ARPPU
    for player, lag in (("alice", 60), ("bob", 120), ("carol", 600)):
        s.bet(f"{D}T13:00", lag, player)
    return s


def send_all(producer, script: Script) -> None:
    for topic, record in script.records:
        player = record.get("player_id") or (record.get("after") or {}).get("player_id")
        key = (player or script.tenant).encode()
        producer.send_raw(topic, key, producer.serde.encode(topic, record))
    producer.flush()


def test_scripted_day_kpis_match_hand_computed_figures_and_survive_redelivery(
    sink, producer, stack
):
    tenant = f"kpi{uuid.uuid4().hex[:8]}"
    script = scripted_day(tenant)
    send_all(producer, script)

    # By hand, day D (UKGC, GBP, duty 21 % of GGR, per player-day, floored):
    #   stakes: alice 2000+3000+500 (bonus) = 5500, bob 5000, carol 1000 → 11500
    #   handle = stakes - refunds = 11500 - 1000 = 10500
    #   GGR = handle - wins (1500 + 800 bonus win) = 8200
    #   bonus cost = bonus converted to cash = 800
    #   duty: alice GGR 5500-1500-800 = 3200 → 672; bob 5000 → 1050; carol 0 → 0: 1722
    #   NGR = 8200 - 800 - 1722 = 5678
    #   deposits 10000 + 5000 + 2000 = 17000; withdrawals 500; FTD alice, bob = 2;
    #   active (staked) alice, bob, carol = 3; bets 3 with lags 60/120/600 s
    want_day = {
        "handle_minor": 10500,
        "ggr_minor": 8200,
        "bonus_cost_minor": 800,
        "duty_ggr_minor": 1722,
        "duty_handle_minor": 0,
        "ngr_minor": 5678,
        "deposits_minor": 17000,
        "withdrawals_minor": 500,
        "ftd_count": 2,
        "active_players": 3,
        "bets_count": 3,
        "settle_lag_p50_ms": 120000,
        "settle_lag_p95_ms": 600000,
        "settle_lag_p99_ms": 600000,
    }
    # Cohort D = {alice, bob}: D1 alice only → 1/2.
    # NGR in the first 30 days: alice 1728 (day D: 3200-800-672) + 790 (D+1: 1000-210) = 2518,
    # bob 5000-1050 = 3950 → 6468; ARPPU = 6468 / 2 paying = 3234.
    # LTV adds alice's day 40: 2000-420 = 1580 → (6468+1580) / 2 = 4024.
    want_cohort = {"cohort_size": 2, "d1_players": 1, "d1_rate": 0.5, "d7_players": 0}
    want_value = {"cohort_size": 2, "paying_players": 2, "arppu_minor": 3234, "ltv_minor": 4024}

    def figures() -> tuple[dict, dict, dict]:
        day = sink.query(
            f"SELECT * FROM wagerstream.kpi_daily WHERE tenant_id = '{tenant}' AND day = '{D}'"
        )
        cohort = sink.query(
            f"SELECT * FROM wagerstream.retention_cohorts WHERE tenant_id = "
            f"'{tenant}' AND cohort_day = '{D}'"
        )
        value = sink.query(
            f"SELECT * FROM wagerstream.player_value WHERE tenant_id = "
            f"'{tenant}' AND cohort_day = '{D}'"
        )
        pick = lambda rows, keys: {k: rows[0][k] for k in keys} if rows else {}  # noqa: E731
        return (pick(day, want_day), pick(cohort, want_cohort), pick(value, want_value))

    want = (want_day, want_cohort, want_value)
    deadline = time.monotonic() + 180
    got = figures()
    while got != want and time.monotonic() < deadline:
        time.sleep(1)
        got = figures()
    assert got == want

    # redeliver the whole input twice: no KPI moves
    send_all(producer, script)
    send_all(producer, script)
    group = sink.group
    deadline = time.monotonic() + 120
    while consumer_lag(stack.kafka, group, FACT_TOPICS, stack.topic_partitions) > 0:
        assert time.monotonic() < deadline, "the sink never committed the redelivered input"
        time.sleep(0.5)
    assert figures() == want

    # `wagerstream query` reaches the embedded engine through the running sink
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "wagerstream",
            "query",
            f"SELECT ngr_minor FROM wagerstream.kpi_daily "
            f"WHERE tenant_id = '{tenant}' AND day = '{D}'",
        ],
        env=sink.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "5678" in out.stdout
