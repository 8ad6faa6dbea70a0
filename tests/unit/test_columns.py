"""The column glossary is the README's table, and every column it names is real."""

from __future__ import annotations

import re

import pytest

from foundation.settings import PROJECT_ROOT
from sinks.clickhouse.columns import SOURCE, UndocumentedColumn, markdown, meaning, table_comment


def test_the_readme_shows_the_glossary() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    found = re.search(r"<!-- columns:start -->\n(.*)<!-- columns:end -->", readme, re.S)
    assert found is not None and found.group(1) == markdown()


def test_common_entries_fill_in_and_a_missing_one_is_an_error() -> None:
    assert meaning("kpi_daily", "tenant_id") == "Operator (B2B tenant) the row belongs to."
    assert meaning("bets", "version").startswith("Kafka offset of the event")
    assert meaning("ledger_entries", "op") == "c (streamed insert) or r (initial snapshot read)."
    with pytest.raises(
        UndocumentedColumn, match=rf"kpi_daily.new_kpi has no entry in {SOURCE.name}"
    ):
        meaning("kpi_daily", "new_kpi")
    assert table_comment("first_deposits", ["ftd_at", "currency"], is_view=True) == (
        "Mart: each player's first deposit (FTD). Columns: ftd_at: When the first deposit was "
        "committed (UTC); currency: ISO 4217 currency of every *_minor amount in the row."
    )
