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
