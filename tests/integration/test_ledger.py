"""The ledger on a real PostgreSQL: legs, balances, idempotency, refusals that write nothing."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from ledger.client import (
    CurrencyMismatch,
    IdempotencyConflict,
    InvalidTransfer,
    Ledger,
    Overdraft,
    UnknownAccount,
)
from ledger.migrate import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
def player(ledger_dsn):
    tenant, player = f"t{uuid.uuid4().hex[:8]}", "p1"
    with Ledger(ledger_dsn) as ledger:
        ledger.open_player(tenant, "b1", "UKGC", player, "GBP")
    return tenant, player


def entry_count(dsn: str, tenant: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT count(*) FROM ledger.entries WHERE tenant_id = %s", (tenant,)
        ).fetchone()[0]


def test_migrate_is_idempotent(ledger_dsn) -> None:
    assert migrate(ledger_dsn) == []


def test_every_kind_moves_the_right_accounts(ledger_dsn, player) -> None:
    tenant, p = player
    script = [  # kind, amount, expected (cash, bonus) after, worked out by hand
        ("deposit", 10_000, (10_000, 0)),
        ("stake", 2_500, (7_500, 0)),
        ("win", 6_000, (13_500, 0)),
        ("refund", 500, (14_000, 0)),
        ("bonus_grant", 3_000, (14_000, 3_000)),
        ("bonus_stake", 1_000, (14_000, 2_000)),
        ("bonus_win", 4_000, (14_000, 6_000)),
        ("bonus_convert", 2_500, (16_500, 3_500)),
        ("bonus_forfeit", 3_500, (16_500, 0)),
        ("withdrawal", 6_500, (10_000, 0)),
        ("chargeback", 1_000, (9_000, 0)),
        ("adjustment", -250, (8_750, 0)),
        ("adjustment", 100, (8_850, 0)),
    ]
    with Ledger(ledger_dsn) as ledger:
        for i, (kind, amount, expected) in enumerate(script):
            posted = ledger.post(f"{tenant}-{i}", kind, tenant, "b1", p, "GBP", amount)
            assert (posted.cash_balance_minor, posted.bonus_balance_minor) == expected, kind
            assert not posted.replayed
        assert ledger.balances(tenant, p) == (8_850, 0)
    with psycopg.connect(ledger_dsn) as conn:
        sums = conn.execute(
            "SELECT transfer_id, sum(amount_minor), count(*) FROM ledger.entries"
            " WHERE tenant_id = %s GROUP BY transfer_id", (tenant,),
        ).fetchall()  # fmt: skip
        assert len(sums) == len(script)
        assert {s for _, s, _ in sums} == {0}  # every transfer sums to zero
        assert {n for _, _, n in sums} == {2}
        # house legs, by book: psp took 10000 in, paid 6500 + 1000 out
        books = dict(conn.execute(
            "SELECT a.house_book, sum(e.amount_minor) FROM ledger.entries e"
            " JOIN ledger.accounts a USING (account_id)"
            " WHERE e.tenant_id = %s AND e.account_kind = 'house' GROUP BY 1", (tenant,),
        ).fetchall())  # fmt: skip
        assert books == {
            "psp": -10_000 + 6_500 + 1_000,
            "gaming": 2_500 - 6_000 - 500 + 1_000 - 4_000,
            "bonus": -3_000 + 3_500,
            "adjustment": 250 - 100,
        }


def test_retry_returns_the_first_answer_and_writes_nothing(ledger_dsn, player) -> None:
    tenant, p = player
    with Ledger(ledger_dsn) as ledger:
        first = ledger.post(f"{tenant}-k-retry", "deposit", tenant, "b1", p, "GBP", 700)
        ledger.post(f"{tenant}-k-later", "stake", tenant, "b1", p, "GBP", 200)
        again = ledger.post(f"{tenant}-k-retry", "deposit", tenant, "b1", p, "GBP", 700)
        assert again.replayed and again.transfer_id == first.transfer_id
        assert (again.cash_balance_minor, again.bonus_balance_minor) == (700, 0)
        assert ledger.balances(tenant, p) == (500, 0)
    assert entry_count(ledger_dsn, tenant) == 4


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("k1", "deposit", "GBP", 999), IdempotencyConflict, "was used for a different transfer"),
        (("k9", "deposit", "EUR", 100), CurrencyMismatch, "EUR transfer for player p1"),
        (("k9", "withdrawal", "GBP", 1_001), Overdraft, "cash balance is 1000 GBP"),
        (("k9", "bonus_stake", "GBP", 1), Overdraft, "bonus balance is 0"),
        (("k9", "stake", "GBP", -5), InvalidTransfer, "invalid amount -5"),
        (("k9", "jackpot", "GBP", 5), InvalidTransfer, "unknown transfer kind jackpot"),
    ],
)
def test_refusals_are_clear_and_write_nothing(ledger_dsn, player, args, error, message) -> None:
    tenant, p = player
    key, kind, currency, amount = args
    with Ledger(ledger_dsn) as ledger:  # keys are global: prefix them with the test's tenant
        ledger.post(f"{tenant}-k1", "deposit", tenant, "b1", p, "GBP", 1_000)
        with pytest.raises(error, match=message):
            ledger.post(f"{tenant}-{key}", kind, tenant, "b1", p, currency, amount)
        assert ledger.balances(tenant, p) == (1_000, 0)
    assert entry_count(ledger_dsn, tenant) == 2


def test_unknown_account(ledger_dsn) -> None:
    with (
        Ledger(ledger_dsn) as ledger,
        pytest.raises(UnknownAccount, match="has no cash/bonus account"),
    ):
        ledger.post("k-x", "deposit", f"t{uuid.uuid4().hex[:6]}", "b1", "ghost", "GBP", 10)


def test_database_itself_refuses_unbalanced_or_rewritten_history(ledger_dsn, player) -> None:
    tenant, p = player
    with Ledger(ledger_dsn) as ledger:
        posted = ledger.post(f"{tenant}-k-db", "deposit", tenant, "b1", p, "GBP", 300)
    with psycopg.connect(ledger_dsn) as conn:
        with pytest.raises(psycopg.Error, match="append-only"):
            conn.execute(
                "UPDATE ledger.entries SET amount_minor = 1 WHERE transfer_id = %s",
                (posted.transfer_id,),
            )
        conn.rollback()
        with pytest.raises(psycopg.Error, match="unbalanced transfer"):
            conn.execute(
                "INSERT INTO ledger.entries (transfer_id, account_id, account_kind, player_id,"
                " tenant_id, brand_id, jurisdiction, kind, amount_minor, currency, idempotency_key)"
                " SELECT transfer_id, account_id, account_kind, player_id, tenant_id, brand_id,"
                " jurisdiction, kind, 5, currency, idempotency_key FROM ledger.entries"
                " WHERE transfer_id = %s LIMIT 1", (posted.transfer_id,),
            )  # fmt: skip
            conn.commit()
    assert entry_count(ledger_dsn, tenant) == 2


def test_same_key_posted_concurrently_is_one_transfer(ledger_dsn, player) -> None:
    tenant, p = player
    results, errors = [], []

    def post() -> None:
        try:
            with Ledger(ledger_dsn) as ledger:
                results.append(
                    ledger.post(f"{tenant}-k-race", "deposit", tenant, "b1", p, "GBP", 400)
                )
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.transfer_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert entry_count(ledger_dsn, tenant) == 2
    with Ledger(ledger_dsn) as ledger:
        assert ledger.balances(tenant, p) == (400, 0)
