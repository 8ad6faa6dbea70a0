"""`wagerstream query --format` on the embedded ClickHouse engine, and a SQL typo reported as
the SQL error it is (not as an engine that cannot be opened)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.embedded import on_engine

pytestmark = pytest.mark.integration
SQL = ("SELECT number AS n, concat('a,', toString(number)) AS label, "
       "toDate('2026-03-29') + number AS day FROM system.numbers LIMIT 2")  # fmt: skip


def query(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return on_engine(tmp_path / "ch", "query", *args)


def test_csv_tsv_and_json(tmp_path: Path) -> None:
    csv = query(tmp_path, "--format", "csv", SQL)
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout == 'n,label,day\n0,"a,0",2026-03-29\n1,"a,1",2026-03-30\n'
    tsv = query(tmp_path, "-f", "tsv", SQL)
    assert tsv.stdout == "n\tlabel\tday\n0\ta,0\t2026-03-29\n1\ta,1\t2026-03-30\n"
    js = query(tmp_path, "--format", "json", SQL)
    assert json.loads(js.stdout) == [
        {"n": 0, "label": "a,0", "day": "2026-03-29"},
        {"n": 1, "label": "a,1", "day": "2026-03-30"},
    ]


def test_a_sql_typo_is_a_sql_error(tmp_path: Path) -> None:
    done = query(tmp_path, "SELEC 1")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: SQL error: Code: 62. DB::Exception: Syntax error")
    assert "cannot open" not in lines[0]
