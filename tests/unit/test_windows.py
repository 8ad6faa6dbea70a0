"""Rolling windows over a player's time-ordered entries (agents/rules/windows.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agents.rules.windows import insert_sorted, windows_through

USED = 2  # index of the "used by an alert" flag in these two-field entries


def test_the_windows_a_late_entry_falls_into_each_end_at_an_entry():
    items = [[10, "a"], [20, "b"], [20, "c"], [35, "d", 1], [50, "e"]]
    # ends at or after 20 and before 20 + 30: 20 and 35 (50 is out); d is used
    assert list(windows_through(items, 20, 30, USED)) == [
        [[10, "a"], [20, "b"], [20, "c"]],
        [[10, "a"], [20, "b"], [20, "c"]],
    ]
    # and nothing at or before 10 (the last alert's evidence) counts again
    assert list(windows_through(items, 20, 30, USED, after_ms=10)) == [
        [[20, "b"], [20, "c"]],
        [[20, "b"], [20, "c"]],
    ]
    assert list(windows_through(items, 51, 30, USED)) == []


def naive(items, now, span, used_at, after):
    """The definition, scanning everything: windows (end - span, end] for each distinct entry
    time now <= end < now + span, earliest first, unused entries newer than `after`."""
    out = []
    for end in sorted({i[0] for i in items if now <= i[0] < now + span}):
        start = max(end - span, after)
        out.append(
            [i for i in items if start < i[0] <= end and (len(i) <= used_at or not i[used_at])]
        )
    return out


@given(
    st.lists(st.tuples(st.integers(0, 200), st.booleans()), max_size=40),
    st.integers(0, 220),
    st.integers(1, 120),
    st.integers(-1, 200),
)
def test_binary_searched_windows_equal_the_definition(entries, now, span, after):
    items: list[list] = []
    for n, (at, used) in enumerate(entries):
        insert_sorted(items, [at, n, 1] if used else [at, n])
    assert list(windows_through(items, now, span, USED, after)) == naive(
        items, now, span, USED, after
    )


ZONES = ("UTC", "Europe/London", "Europe/Berlin", "America/Toronto", "Asia/Kolkata")
# 2026-03-27 .. 2026-04-02 and 2026-10-23 .. 2026-11-03: both clock changes in Europe and
# North America, week and month ends among them
SPANS = ((1_774_569_600_000, 6 * 86_400_000), (1_792_713_600_000, 11 * 86_400_000))


def uncached(ts: int, period: str, zone: str) -> tuple[str, int, int]:
    """The definition, with no cache: the local calendar's period, and its UTC bounds."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    today = datetime.fromtimestamp(ts / 1000, tz=UTC).astimezone(tz).date()
    if period == "day":
        start, end = today, today + timedelta(days=1)
    elif period == "week":
        start = today - timedelta(days=today.weekday())
        end = start + timedelta(days=7)
    else:
        start = today.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)

    def ms(d):
        return int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() * 1000)

    key = f"{period}:{start.isoformat()[:7] if period == 'month' else start.isoformat()}"
    return key, ms(start), ms(end)


@given(
    st.lists(
        st.tuples(st.sampled_from(SPANS), st.floats(0, 1), st.sampled_from(ZONES)),
        min_size=1,
        max_size=60,
    )
)
def test_cached_calendar_periods_equal_the_definition(queries):
    """Queries in any order (so most hit an interval remembered from an earlier one) give
    exactly what the local calendar gives, across both clock changes of the year."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from agents.rules.windows import local_hour, period_bounds, period_key

    for (first, length), share, zone in queries:
        ts = first + int(share * length)
        tz = ZoneInfo(zone)
        for period in ("day", "week", "month"):
            key, start, end = uncached(ts, period, zone)
            assert period_key(ts, period, tz) == key
            assert period_bounds(ts, period, tz) == (start, end)
        assert local_hour(ts, tz) == datetime.fromtimestamp(ts / 1000, tz=UTC).astimezone(tz).hour


def test_the_day_the_clocks_go_forward_has_23_hours_and_its_hours_are_local():
    """Berlin, 2026-03-29: at 01:00 UTC, 02:00 CET becomes 03:00 CEST, so the local day is 23
    hours long and the local hour jumps from 1 to 3."""
    from zoneinfo import ZoneInfo

    from agents.rules.windows import local_hour, period_bounds

    berlin = ZoneInfo("Europe/Berlin")
    midnight = 1_774_738_800_000  # 2026-03-28T23:00:00Z = 2026-03-29 00:00 CET
    assert period_bounds(midnight + 1, "day", berlin) == (midnight, midnight + 23 * 3_600_000)
    assert local_hour(midnight + 2 * 3_600_000 - 1, berlin) == 1  # 00:59:59.999 UTC: 01:59 CET
    assert local_hour(midnight + 2 * 3_600_000, berlin) == 3  # 01:00 UTC: 03:00 CEST
    assert local_hour(midnight + 3 * 3_600_000 - 1, berlin) == 3  # 01:59:59.999 UTC


def test_a_remembered_day_ends_where_the_next_begins():
    from zoneinfo import ZoneInfo

    from agents.rules.windows import period_key

    berlin = ZoneInfo("Europe/Berlin")
    midnight = 1_774_738_800_000  # 2026-03-29 00:00 CET, a 23-hour day
    assert period_key(midnight, "day", berlin) == "day:2026-03-29"
    assert period_key(midnight + 23 * 3_600_000 - 1, "day", berlin) == "day:2026-03-29"
    assert period_key(midnight + 23 * 3_600_000, "day", berlin) == "day:2026-03-30"
    assert period_key(midnight - 1, "day", berlin) == "day:2026-03-28"
