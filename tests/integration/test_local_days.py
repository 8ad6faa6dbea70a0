"""KPIs on the jurisdiction's local day across a DST change, and in a reporting currency over a
currency mix, worked out by hand on the embedded ClickHouse engine: rows inserted into the
ledger fact, read from the marts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sinks.clickhouse.rows import COLUMNS
from tests.integration.embedded import on_engine

pytestmark = pytest.mark.integration


class Engine:
    """The embedded engine of one test, through the CLI (tests/integration/embedded.py)."""

    def __init__(self, data: Path) -> None:
        self.data = data

    def cli(self, *args: str, currency: str = "EUR") -> str:
        done = on_engine(self.data, *args, env={"WAGERSTREAM_REPORTING_CURRENCY": currency})
        assert done.returncode == 0, done.stderr
        return done.stdout

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(r.values()) for r in json.loads(self.cli("query", "--format", "json", sql))]


def entry(n: int, player: str, jurisdiction: str, currency: str, kind: str, amount: int,
          when: str) -> str:  # fmt: skip
    ts = f"'{when.replace('T', ' ')}'"
    values = ["'t1'", str(n), f"'tr-{n}'", "'b1'", f"'{jurisdiction}'", f"'{player}'", "'cash'",
              f"'{kind}'", str(amount), f"'{currency}'", "NULL", f"'k{n}'", ts, ts,
              str(1000 + n), "7", "'c'"]  # fmt: skip
    return "(" + ", ".join(values) + ")"


def insert_entries(engine: Engine, rows: list[str]) -> None:
    columns = ", ".join(COLUMNS["ledger_entries"])
    engine.cli("query", f"INSERT INTO wagerstream.ledger_entries ({columns}) VALUES "
                        + ", ".join(rows))  # fmt: skip


def test_kpi_daily_counts_each_jurisdictions_local_day(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "ch")
    engine.cli("marts", "migrate")
    rows = [
        # UKGC: London went from GMT to BST at 2026-03-29 01:00 UTC
        entry(1, "uk", "UKGC", "GBP", "deposit", 1000, "2026-03-28T23:30:00"),  # GMT: 28 Mar
        entry(2, "uk", "UKGC", "GBP", "stake", -200, "2026-03-29T23:30:00"),  # BST 00:30, 30 Mar
        # ON: Toronto went from EST to EDT at 2026-03-08 07:00 UTC
        entry(3, "on", "ON", "CAD", "deposit", 5000, "2026-03-08T04:30:00"),  # EST 23:30, 7 Mar
        entry(4, "on", "ON", "CAD", "stake", -700, "2026-03-08T07:30:00"),  # EDT 03:30, 8 Mar
    ]
    insert_entries(engine, rows)
    got = engine.rows(
        "SELECT toString(day), jurisdiction, handle_minor, ggr_minor, duty_ggr_minor, "
        "ngr_minor, deposits_minor, ftd_count, active_players FROM wagerstream.kpi_daily "
        "WHERE tenant_id = 't1' ORDER BY day"
    )
    # by hand: duty is 21 % of GGR in UKGC (200 → 42) and 20 % in Ontario (700 → 140)
    assert got == [
        ("2026-03-07", "ON", 0, 0, 0, 0, 5000, 1, 0),
        ("2026-03-08", "ON", 700, 700, 140, 560, 0, 0, 1),
        ("2026-03-28", "UKGC", 0, 0, 0, 0, 1000, 1, 0),
        ("2026-03-30", "UKGC", 200, 200, 42, 158, 0, 0, 1),  # the UTC day would be 29 March
    ]
    cohorts = engine.rows(
        "SELECT toString(cohort_day), cohort_size FROM wagerstream.retention_cohorts "
        "WHERE tenant_id = 't1' ORDER BY cohort_day"
    )
    assert cohorts == [("2026-03-07", 1), ("2026-03-28", 1)]


def test_kpi_daily_reporting_rolls_a_currency_mix_into_one_currency(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "ch")
    engine.cli("marts", "migrate")  # reporting currency: EUR, the default
    # an analyst extends the FX table: JPY, and a newer GBP rate from 1 April
    engine.cli("query", "INSERT INTO wagerstream.fx_rates (currency, valid_from, eur_per_unit, "
                        "minor_units) VALUES ('JPY', '2000-01-01', 0.0061, 0), "
                        "('GBP', '2026-04-01', 1.2, 2)")  # fmt: skip
    rows = [  # MGA players in four currencies; Malta is UTC+2 in summer time: same day at noon
        entry(1, "g", "MGA", "GBP", "deposit", 1000, "2026-03-30T12:00:00"),
        entry(2, "g", "MGA", "GBP", "stake", -200, "2026-03-30T12:05:00"),
        entry(3, "s", "MGA", "SEK", "deposit", 100000, "2026-03-30T12:00:00"),
        entry(4, "j", "MGA", "JPY", "deposit", 5000, "2026-03-30T12:00:00"),
        entry(5, "x", "MGA", "XXX", "deposit", 5, "2026-03-30T12:00:00"),
        entry(6, "g", "MGA", "GBP", "deposit", 1000, "2026-04-02T12:00:00"),
    ]
    insert_entries(engine, rows)
    sql = ("SELECT toString(day), reporting_currency, deposits_minor, handle_minor, duty_minor, "
           "ngr_minor, ftd_count, arraySort(currencies), unconverted_currencies "
           "FROM wagerstream.kpi_daily_reporting WHERE tenant_id = 't1' ORDER BY day")  # fmt: skip
    # by hand, in EUR cents: GBP 10.00 x 1.15 = 1150; SEK 1000.00 x 0.087 = 8700; JPY 5000 x
    # 0.0061 = 30.50 EUR = 3050; XXX has no rate. g's stake of 2.00 GBP: handle 230; duty 5 %
    # of GGR in GBP = 10 pence x 1.15 = 11.5 → 12 (half to even); NGR 190 x 1.15 = 218.5 → 218.
    # From 1 April GBP is 1.2: 1000 → 1200.
    assert engine.rows(sql) == [
        ("2026-03-30", "EUR", 12900, 230, 12, 218, 4, ["GBP", "JPY", "SEK", "XXX"], ["XXX"]),
        ("2026-04-02", "EUR", 1200, 0, 0, 0, 0, ["GBP"], []),
    ]
    engine.cli("marts", "migrate", currency="GBP")
    # in pence: 1000; 87 EUR / 1.15 = 75.652 GBP → 7565; 30.50 / 1.15 = 26.52 → 2652
    assert [r[:4] for r in engine.rows(sql)] == [
        ("2026-03-30", "GBP", 1000 + 7565 + 2652, 200),
        ("2026-04-02", "GBP", 1000, 0),
    ]
