"""The embedded ClickHouse engine through clickhouse-connect's chdb:// DSN (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.settings import Settings
from sinks.clickhouse.connect import ClickHouseConfigError, connect


def test_embedded_engine_under_the_stack_folder(tmp_path: Path) -> None:
    settings = Settings(stack_dir=tmp_path, clickhouse_database="ws_test")
    assert settings.clickhouse == f"chdb://{tmp_path / 'clickhouse'}"
    client = connect(settings)
    client.command(
        "CREATE TABLE ws_test.facts (id UInt64, version UInt64, amount Int64)"
        " ENGINE = ReplacingMergeTree(version) ORDER BY id"
    )
    client.insert("ws_test.facts", [[1, 1, 500], [2, 1, -200], [1, 2, 700]],
                  column_names=["id", "version", "amount"])  # fmt: skip
    # a replayed row replaces itself: FINAL keeps the newest version per id
    assert client.query("SELECT sum(amount) FROM ws_test.facts FINAL").result_rows == [(500,)]
    assert (tmp_path / "clickhouse").is_dir()


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(ClickHouseConfigError, match="chdb:///data/dir"):
        connect(Settings(clickhouse_url="mysql://x"))
