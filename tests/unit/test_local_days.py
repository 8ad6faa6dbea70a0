"""The marts' local-day function names the same time zone per jurisdiction as the risk rules."""

from __future__ import annotations

import re

from agents.rules.config import DEFAULT_FILE, load
from sinks.clickhouse.migrate import MIGRATIONS


def test_the_marts_use_the_rules_calendar() -> None:
    sql = (MIGRATIONS / "0006_local_days.sql").read_text()
    branches = dict(re.findall(r"j = '(\w+)', toDate\(ts, '([\w/]+)'\)", sql))
    config = load(DEFAULT_FILE)
    rules = {j: config.rules("t", j).tz.key for j in config.raw["jurisdiction"]}
    assert branches == rules and len(branches) == 5
    fallback = re.search(r"\n    toDate\(ts, '([\w/]+)'\)\n\);", sql)
    assert fallback is not None and fallback.group(1) == config.rules("t", "XX").tz.key == "UTC"
