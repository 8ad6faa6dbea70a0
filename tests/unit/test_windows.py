"""Rolling windows over a player's time-ordered entries (agents/rules/windows.py)."""

from __future__ import annotations

from agents.rules.windows import windows_through

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
