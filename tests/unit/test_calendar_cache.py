"""The rules' local calendar, cached per zone, gives the same dates and window names as a
fresh time-zone conversion per event, across midnight, the clock changes and a year's end, in
any arrival order (`agents/rules/windows.py`)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from agents.rules.windows import PERIODS, local_date, period_bounds, period_key

ZONES = [ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Australia/Sydney")]
MINUTE_MS = 60_000


def _instants() -> list[int]:
    """Every 7 minutes over the days around Berlin's and New York's 2026 clock changes and the
    turn of the year, shuffled so the cache sees days out of order."""
    days = ["2026-03-08", "2026-03-29", "2026-10-25", "2026-11-01", "2026-12-31"]
    out = []
    for day in days:
        start = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)
        out += range(start - 36 * 60 * MINUTE_MS, start + 36 * 60 * MINUTE_MS, 7 * MINUTE_MS)
    random.Random(15).shuffle(out)
    return out


def test_cached_local_dates_match_a_fresh_conversion() -> None:
    for tz in ZONES:
        for ts in _instants():
            fresh = datetime.fromtimestamp(ts / 1000, tz=UTC).astimezone(tz).date()
            assert local_date(ts, tz) == fresh, (tz, ts)


def test_window_names_and_bounds_around_a_clock_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 2026-03-29 00:30 CET (23:30 UTC on the 28th): the 23-hour day that week
    ts = int(datetime(2026, 3, 28, 23, 30, tzinfo=UTC).timestamp() * 1000)
    assert [period_key(ts, p, berlin) for p in PERIODS] == [
        "day:2026-03-29",
        "week:2026-03-23",
        "month:2026-03",
    ]
    start, end = period_bounds(ts, "day", berlin)
    assert start == int(datetime(2026, 3, 28, 23, 0, tzinfo=UTC).timestamp() * 1000)
    assert end - start == 23 * 60 * MINUTE_MS
    # one millisecond before local midnight is still the 28th, after a lookup of the 29th
    assert local_date(start - 1, berlin).isoformat() == "2026-03-28"
    assert local_date(start, berlin).isoformat() == "2026-03-29"
