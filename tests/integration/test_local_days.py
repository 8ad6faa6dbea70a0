"""KPIs on the jurisdiction's local day across a DST change, worked out by hand, on the
embedded ClickHouse engine: rows inserted into the ledger fact, read from the marts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from foundation.settings import Settings
from sinks.clickhouse.connect import connect
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.rows import COLUMNS

pytestmark = pytest.mark.integration


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def entry(n: int, player: str, jurisdiction: str, currency: str, kind: str, amount: int,
          when: str) -> list:  # fmt: skip
    ts = at(when)
    return ["t1", n, f"tr-{n}", "b1", jurisdiction, player, "cash", kind, amount, currency,
            None, f"k{n}", ts, ts, 1000 + n, 7, "c"]  # fmt: skip


def test_kpi_daily_counts_each_jurisdictions_local_day(tmp_path: Path) -> None:
    s = Settings(clickhouse_url=f"chdb://{tmp_path / 'ch'}")
    client = connect(s)
    migrate(client, s.clickhouse_database)
    rows = [
        # UKGC: London went from GMT to BST at 2026-03-29 01:00 UTC
        entry(1, "uk", "UKGC", "GBP", "deposit", 1000, "2026-03-28T23:30:00"),  # GMT: 28 Mar
        entry(2, "uk", "UKGC", "GBP", "stake", -200, "2026-03-29T23:30:00"),  # BST 00:30, 30 Mar
        # ON: Toronto went from EST to EDT at 2026-03-08 07:00 UTC
        entry(3, "on", "ON", "CAD", "deposit", 5000, "2026-03-08T04:30:00"),  # EST 23:30, 7 Mar
        entry(4, "on", "ON", "CAD", "stake", -700, "2026-03-08T07:30:00"),  # EDT 03:30, 8 Mar
    ]
    client.insert("wagerstream.ledger_entries", rows, column_names=COLUMNS["ledger_entries"])
    got = client.query(
        "SELECT toString(day), jurisdiction, handle_minor, ggr_minor, duty_ggr_minor, "
        "ngr_minor, deposits_minor, ftd_count, active_players FROM wagerstream.kpi_daily "
        "WHERE tenant_id = 't1' ORDER BY day"
    ).result_rows
    # by hand: duty is 21 % of GGR in UKGC (200 → 42) and 20 % in Ontario (700 → 140)
    assert [tuple(r) for r in got] == [
        ("2026-03-07", "ON", 0, 0, 0, 0, 5000, 1, 0),
        ("2026-03-08", "ON", 700, 700, 140, 560, 0, 0, 1),
        ("2026-03-28", "UKGC", 0, 0, 0, 0, 1000, 1, 0),
        ("2026-03-30", "UKGC", 200, 200, 42, 158, 0, 0, 1),  # the UTC day would be 29 March
    ]
    cohorts = client.query(
        "SELECT toString(cohort_day), cohort_size FROM wagerstream.retention_cohorts "
        "WHERE tenant_id = 't1' ORDER BY cohort_day"
    ).result_rows
    assert [tuple(r) for r in cohorts] == [("2026-03-07", 1), ("2026-03-28", 1)]
