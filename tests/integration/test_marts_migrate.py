"""`wagerstream marts migrate` and `wagerstream query` on the embedded engine.

Run as subprocesses, like a user would: the embedded engine locks its data directory to one
process, and this keeps the pytest process free of it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.integration.embedded import on_engine


def run(args: list[str], data: Path, code: str | None = None) -> str:
    proc = on_engine(data, *args, code=code)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_migrate_twice_then_query(tmp_path: Path) -> None:
    data = tmp_path / "ch"
    assert (
        "applied 9: 0001_facts, 0002_kpi_marts, 0003_inserted_at, "
        "0004_access (parsed only: no access storage), "
        "0005_analyst_user (parsed only: no access storage), 0006_local_days, "
        "0007_reporting_currency, 0008_bonus_wagering, "
        "0009_row_policies (parsed only: no access storage)\n"
    ) in run(["marts", "migrate"], data)
    assert "applied 0: nothing to do" in run(["marts", "migrate"], data)
    out = run(["query", "SELECT name FROM system.tables WHERE database = 'wagerstream' "
                        "AND engine = 'ReplacingMergeTree' ORDER BY name"], data)  # fmt: skip
    facts = ["bets", "bonus_progress", "duty_rates", "ledger_entries", "payments", "signals"]
    assert [n for n in facts if n in out] == facts
    views = run(["query", "SELECT name FROM system.tables WHERE database = 'wagerstream' "
                          "AND engine = 'View' ORDER BY name"], data)  # fmt: skip
    marts = ("bonus_wagering", "kpi_daily", "player_value", "retention_cohorts")
    assert [n for n in marts if n in views] == list(marts)


def test_replayed_batch_with_same_token_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "ch"
    run(["marts", "migrate"], data)
    script = textwrap.dedent("""
        from datetime import datetime, timezone
        from sinks.clickhouse.connect import connect
        from foundation.settings import Settings
        c = connect(Settings())
        t = datetime(2026, 1, 1, tzinfo=timezone.utc)
        cols = ["tenant_id", "entry_id", "transfer_id", "brand_id", "jurisdiction", "player_id",
                "account_kind", "kind", "amount_minor", "currency", "balance_after_minor",
                "idempotency_key", "created_at", "commit_ts", "lsn", "tx_id", "op"]
        rows = [["t1", i, "tr", "b1", "MGA", "p1", "cash", "deposit", 100 * i, "EUR", None, "k",
                 t, t, 1000 + i, 7, "c"] for i in (1, 2, 3)]
        for _ in range(3):  # the same batch delivered three times
            c.insert("wagerstream.ledger_entries", rows, column_names=cols,
                     settings={"insert_deduplication_token": "ledger.cdc-0-100-102"})
        q = "SELECT count(), sum(amount_minor) FROM wagerstream.ledger_entries"
        print(c.query(q).result_rows)
        c.insert("wagerstream.ledger_entries", rows[:1], column_names=cols)  # redelivered row
        print(c.query(q + " FINAL").result_rows)
    """)
    out = run([], data, code=script).splitlines()
    assert out == ["[(3, 600)]", "[(3, 600)]"]


def test_access_migration_is_checked_even_where_it_cannot_run(tmp_path: Path) -> None:
    """The embedded engine has no access storage, so 0004 is parsed there, not run: a typo in
    it must still fail the migration instead of waiting for the first server deployment."""
    broken = tmp_path / "migrations"
    broken.mkdir()
    source = Path(__file__).resolve().parents[2] / "sinks/clickhouse/migrations/0004_access.sql"
    (broken / "0004_access.sql").write_text(
        source.read_text().replace("GRANT SELECT ON", "GRANT SELEKT ON")
    )
    code = textwrap.dedent(f"""
        from pathlib import Path
        from sinks.clickhouse.connect import connect
        from sinks.clickhouse.migrate import migrate
        from foundation.settings import get_settings
        try:
            migrate(connect(get_settings()), "wagerstream", Path({str(broken)!r}))
        except Exception as exc:
            print("refused:", type(exc).__name__, "SYNTAX_ERROR" in str(exc))
        else:
            print("accepted")
    """)
    assert run([], tmp_path / "ch", code=code).strip() == "refused: DatabaseError True"


def test_every_column_is_documented_in_the_database(tmp_path: Path) -> None:
    data = tmp_path / "ch"
    run(["marts", "migrate"], data)
    out = run(["query", "--format", "json",
               "SELECT table, name, comment FROM system.columns WHERE database = 'wagerstream' "
               "AND table IN (SELECT name FROM system.tables WHERE database = 'wagerstream' "
               "AND engine != 'View' AND name != 'schema_migrations')"], data)  # fmt: skip
    import json

    from sinks.clickhouse.columns import meaning, table_comment

    facts = json.loads(out)
    assert len(facts) >= 60
    assert [f for f in facts if f["comment"] != meaning(f["table"], f["name"])] == []
    views = json.loads(run(["query", "--format", "json",
                            "SELECT t.name AS name, t.comment AS comment, "
                            "arraySort((n, p) -> p, groupArray(c.name), groupArray(c.position)) "
                            "AS cols "
                            "FROM system.tables AS t JOIN system.columns AS c "
                            "ON c.database = t.database AND c.table = t.name "
                            "WHERE t.database = 'wagerstream' AND t.engine = 'View' "
                            "GROUP BY name, comment"], data))  # fmt: skip
    assert {v["name"] for v in views} >= {"kpi_daily", "retention_cohorts", "player_value"}
    for v in views:
        assert v["comment"] == table_comment(v["name"], v["cols"], is_view=True), v["name"]
    assert "applied 0: nothing to do" in run(["marts", "migrate"], data)
