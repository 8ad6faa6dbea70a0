"""The posting client: one call = one round trip = one transaction of `ledger.post_transfer`.

The SQL function does all the work (locks, legs, idempotency, constraints); this module maps
its SQLSTATEs to exceptions that say what went wrong, and retries the one case that is meant
to be retried (the same key posted concurrently).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import psycopg

KINDS = (
    "deposit", "withdrawal", "stake", "win", "refund", "bonus_grant", "bonus_stake",
    "bonus_win", "bonus_convert", "bonus_forfeit", "chargeback", "adjustment",
)  # fmt: skip


class LedgerError(RuntimeError):
    """A transfer the ledger refused; nothing was written."""

    code = "ledger_error"


class UnknownAccount(LedgerError):
    code = "unknown_account"


class CurrencyMismatch(LedgerError):
    code = "currency_mismatch"


class Overdraft(LedgerError):
    code = "overdraft"


class IdempotencyConflict(LedgerError):
    code = "idempotency_conflict"


class InvalidTransfer(LedgerError):
    code = "invalid_transfer"


_BY_SQLSTATE: dict[str, type[LedgerError]] = {
    "WS001": UnknownAccount,
    "WS002": CurrencyMismatch,
    "WS003": Overdraft,
    "WS004": IdempotencyConflict,
    "WS005": InvalidTransfer,
}


@dataclass(frozen=True)
class Posted:
    transfer_id: UUID
    replayed: bool  # True: the key was already posted; this is the first call's answer
    cash_balance_minor: int
    bonus_balance_minor: int


class Ledger:
    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open_player(
        self, tenant: str, brand: str, jurisdiction: str, player: str, currency: str
    ) -> None:
        self.conn.execute(
            "SELECT ledger.open_player(%s, %s, %s, %s, %s)",
            (tenant, brand, jurisdiction, player, currency),
        )

    def post(
        self,
        key: str,
        kind: str,
        tenant: str,
        brand: str,
        player: str,
        currency: str,
        amount_minor: int,
    ) -> Posted:
        if not isinstance(amount_minor, int) or isinstance(amount_minor, bool):
            raise InvalidTransfer(
                f"amount_minor must be an int of minor units, not {amount_minor!r}"
            )
        for attempt in range(3):
            try:
                row = self.conn.execute(
                    "SELECT * FROM ledger.post_transfer(%s, %s, %s, %s, %s, %s, %s)",
                    (key, kind, tenant, brand, player, currency, amount_minor),
                    prepare=True,
                ).fetchone()
                assert row is not None
                return Posted(*row)
            except psycopg.Error as exc:
                state = exc.sqlstate or ""
                if state == "WS008" and attempt < 2:  # same key in flight: its answer next time
                    continue
                error = _BY_SQLSTATE.get(state)
                if error is None:
                    raise
                raise error(exc.diag.message_primary or str(exc)) from None
        raise AssertionError("unreachable")

    def balances(self, tenant: str, player: str) -> tuple[int, int]:
        """(cash, bonus) as the ledger holds them."""
        rows = dict(
            self.conn.execute(
                "SELECT account_kind, balance_minor FROM ledger.accounts"
                " WHERE tenant_id = %s AND player_id = %s",
                (tenant, player),
            ).fetchall()
        )
        return rows.get("cash", 0), rows.get("bonus", 0)
