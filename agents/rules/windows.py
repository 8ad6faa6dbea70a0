"""Time windows in the jurisdiction's local time, and rolling event lists.

Calendar limits and night play are local notions: a German "day" starts at midnight in
Berlin, a week on Monday (ISO 8601), and on the day clocks change that day has 23 or 25 hours.
zoneinfo does the arithmetic, so a window is computed from the local calendar and only then
turned into UTC milliseconds, never as "start + 24 h".

A period, once computed, is an interval [start, end) of UTC milliseconds, and every instant in
it has the same key and bounds: so each (zone, period) remembers its last few intervals and an
event inside one of them costs a comparison instead of a time-zone conversion (most events of
a worker fall in today's and this week's). The cached answer is the computed one, not an
approximation.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from operator import itemgetter
from typing import Any, cast
from zoneinfo import ZoneInfo

from foundation.units import DAY_MS, HOUR_MS, MINUTE_MS, iso

_at = itemgetter(0)  # an entry's timestamp

__all__ = ["DAY_MS", "HOUR_MS", "MINUTE_MS", "PERIODS", "iso"]
PERIODS = ("day", "week", "month")
RECENT = 8  # intervals remembered per (zone, period): late events reach back a few days

# (zone, period) -> recent (start ms, end ms, key), newest first; "hour" holds local hours
_recent: dict[tuple[ZoneInfo, str], deque[tuple[int, int, str | int]]] = {}


def local(ts_ms: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(tz)


def _ms(day: date, tz: ZoneInfo) -> int:
    """Milliseconds of local midnight starting `day` (midnight exists in every zone we use)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


def period_start_day(ts_ms: int, period: str, tz: ZoneInfo) -> date:
    today = local(ts_ms, tz).date()
    if period == "day":
        return today
    if period == "week":
        return today - timedelta(days=today.weekday())
    if period == "month":
        return today.replace(day=1)
    raise ValueError(f"unknown period {period!r} (day, week, month)")


def _next_start(start: date, period: str) -> date:
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _remembered(ts_ms: int, kind: str, tz: ZoneInfo) -> tuple[deque[Any], Any]:
    """The intervals remembered for (zone, kind), and the one holding ts, if any."""
    recent = _recent.get((tz, kind))
    if recent is None:
        recent = _recent[(tz, kind)] = deque(maxlen=RECENT)
    for found in recent:
        if found[0] <= ts_ms < found[1]:
            return recent, found
    return recent, None


def _period(ts_ms: int, period: str, tz: ZoneInfo) -> tuple[int, int, str | int]:
    """(start, end, key) of the calendar period containing ts."""
    recent, found = _remembered(ts_ms, period, tz)
    if found is not None:
        return cast(tuple[int, int, str | int], found)
    start = period_start_day(ts_ms, period, tz)
    key = f"{period}:{start.isoformat()[:7] if period == 'month' else start.isoformat()}"
    found = (_ms(start, tz), _ms(_next_start(start, period), tz), key)
    recent.appendleft(found)
    return cast(tuple[int, int, str | int], found)


def period_key(ts_ms: int, period: str, tz: ZoneInfo) -> str:
    """`day:2026-03-29`, `week:2026-03-23`, `month:2026-03`: the window's name in signals."""
    return cast(str, _period(ts_ms, period, tz)[2])


def period_bounds(ts_ms: int, period: str, tz: ZoneInfo) -> tuple[int, int]:
    """[start, end) of the calendar period containing ts, in UTC milliseconds."""
    start, end, _ = _period(ts_ms, period, tz)
    return start, end


def local_hour(ts_ms: int, tz: ZoneInfo) -> int:
    """The local hour (0-23) of ts. A local hour is one UTC interval of an hour unless a clock
    change falls inside it, so an hour is remembered only when both its ends are that hour."""
    recent, found = _remembered(ts_ms, "hour", tz)
    if found is not None:
        return cast(int, found[2])
    moment = local(ts_ms, tz)
    start = ts_ms - (moment.minute * MINUTE_MS + moment.second * 1000 + moment.microsecond // 1000)
    end = start + HOUR_MS
    if local(start, tz).hour == moment.hour == local(end - 1, tz).hour:
        recent.appendleft((start, end, moment.hour))
    return moment.hour


def split_by_day(start_ms: int, end_ms: int, tz: ZoneInfo) -> Iterable[tuple[str, int]]:
    """(day key, milliseconds) pieces of [start, end): a session across midnight counts on both
    days."""
    while start_ms < end_ms:
        _, day_end, key = _period(start_ms, "day", tz)
        piece_end = min(end_ms, day_end)
        yield cast(str, key), piece_end - start_ms
        start_ms = piece_end


def prune(items: list[list[Any]], horizon_ms: int) -> list[list[Any]]:
    """Drop entries whose timestamp (first element) is before the horizon."""
    if items and items[0][0] < horizon_ms:
        return [item for item in items if item[0] >= horizon_ms]
    return items


def within(items: Iterable[list[Any]], start_ms: int, end_ms: int) -> list[list[Any]]:
    """Entries with start < ts <= end: a rolling window ending at the current event."""
    return [item for item in items if start_ms < item[0] <= end_ms]


def insert_sorted(items: list[list[Any]], item: list[Any]) -> None:
    """Keep event lists in time order even when events arrive out of order."""
    index = len(items)
    while index and items[index - 1][0] > item[0]:
        index -= 1
    items.insert(index, item)


def windows_through(
    items: list[list[Any]], now_ms: int, span_ms: int, used_at: int, after_ms: int = -1
) -> Iterable[list[list[Any]]]:
    """The rolling windows (end - span, end] that contain `now_ms` and end at an entry, earliest
    end first, each with its entries not yet used by an alert (flag at index `used_at`, see
    `mark_used`) and newer than `after_ms`. For an event in time order that is the one window
    ending at it; a late event also gets the windows ending at the later entries it falls into,
    so it can complete them: arrival order does not matter, event time does."""
    # `items` is in time order (`insert_sorted`), so each bound is a binary search, not a scan
    # of the whole list: a heavy player's late event scanned it once per later entry
    for end in window_ends(items, now_ms, span_ms):
        yield unused_between(items, max(end - span_ms, after_ms), end, used_at)


def running_total(
    items: list[list[Any]],
    previous: list[int] | None,
    left_ms: int,
    end_ms: int,
    used_at: int,
    horizon_ms: int,
) -> list[int]:
    """[left, end, total, count]: the amounts (index 1) and number of the entries with
    left < ts <= end not used by an alert, carried forward from `previous` (the same figures of
    an earlier window over `items`) when the window only moved forward: each entry is then
    added once when the window reaches it and taken away once when it leaves, instead of the
    whole window being summed for every event. `previous` must describe `items` as they are,
    apart from entries after its end and entries before `horizon_ms` (pruned since): the
    caller forgets it when an entry is inserted or marked used inside it. Otherwise, or
    without one, the window is summed from its entries."""
    if previous is not None:
        old_left, old_end, total, count = previous
        if left_ms >= old_left and end_ms > old_end and old_left >= horizon_ms - 1:
            gone, n_gone = _unused_sum(items, old_left, min(left_ms, old_end), used_at)
            new, n_new = _unused_sum(items, max(old_end, left_ms), end_ms, used_at)
            return [left_ms, end_ms, total - gone + new, count - n_gone + n_new]
    return [left_ms, end_ms, *_unused_sum(items, left_ms, end_ms, used_at)]


def _unused_sum(items: list[list[Any]], left_ms: int, end_ms: int, used_at: int) -> tuple[int, int]:
    """(total, count) of the entries with left < ts <= end not used by an alert."""
    linked = unused_between(items, left_ms, end_ms, used_at)
    return sum(item[1] for item in linked), len(linked)


def window_ends(items: list[list[Any]], now_ms: int, span_ms: int) -> list[int]:
    """The distinct entry times in [now, now + span): the ends of the rolling windows an entry
    at `now_ms` falls into (`windows_through`)."""
    first = bisect_left(items, now_ms, key=_at)
    return list(
        dict.fromkeys(
            item[0] for item in items[first : bisect_left(items, now_ms + span_ms, key=_at)]
        )
    )


class UnusedTotals:
    """Sums (index 1) and counts of the entries not used by an alert over any time range of a
    time-ordered list, from prefix sums: a late entry falls into one window per later entry,
    and summing each of them from its entries made a heavy player's late events quadratic.
    `refresh` after marking entries used."""

    def __init__(self, items: list[list[Any]], used_at: int) -> None:
        self.items = items
        self.used_at = used_at
        self.refresh()

    def refresh(self) -> None:
        used_at = self.used_at
        unused = [0 if len(item) > used_at and item[used_at] else 1 for item in self.items]
        self._counts = [0, *accumulate(unused)]
        self._sums = [
            0,
            *accumulate(item[1] * n for item, n in zip(self.items, unused, strict=True)),
        ]

    def between(self, left_ms: int, end_ms: int) -> tuple[int, int]:
        """(total, count) of the unused entries with left < ts <= end."""
        lo = bisect_right(self.items, left_ms, key=_at)
        hi = bisect_right(self.items, end_ms, key=_at)
        return self._sums[hi] - self._sums[lo], self._counts[hi] - self._counts[lo]


def unused_between(
    items: list[list[Any]], left_ms: int, end_ms: int, used_at: int
) -> list[list[Any]]:
    """The entries with left < ts <= end not used by an alert (time-ordered `items`)."""
    return [
        item
        for item in items[
            bisect_right(items, left_ms, key=_at) : bisect_right(items, end_ms, key=_at)
        ]
        if len(item) <= used_at or not item[used_at]
    ]


def mark_used(entries: list[list[Any]], used_at: int) -> None:
    """Flag entries as evidence of an alert: no later window counts them again."""
    for entry in entries:
        if len(entry) <= used_at:
            entry.extend([0] * (used_at - len(entry)) + [1])
        else:
            entry[used_at] = 1
