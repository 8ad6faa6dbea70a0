"""The linked-transactions windows from running totals and prefix sums (agents/rules/aml.py,
`agents.rules.windows.running_total` and `UnusedTotals`) raise exactly what summing every
window from its entries raises (`windows_through`, itself checked against the definition in
test_windows.py), for stakes and payouts in any order, with sessions opening and closing."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.rules import aml
from agents.rules.windows import insert_sorted, iso, mark_used, windows_through
from foundation.units import HOUR_MS, MINUTE_MS
from tests.unit.rules_helpers import Player, payout, session, stake, utc

BASE = utc("2026-06-10T00:00")
CHECKS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def activity(draw: st.DrawFn) -> list[tuple[str, dict]]:
    """Stakes and payouts of EUR 50-1,500 (the threshold is EUR 2,000) over up to 10 days, a
    few of them late (up to 30 hours back), with logins (some back-dated by days) and logouts
    among them."""
    events: list[tuple[str, dict]] = []
    clock = 0
    for n in range(draw(st.integers(1, 60))):
        step = draw(st.sampled_from(["on", "on", "on", "late", "login", "logout", "late login"]))
        # steps on a coarse grid, so entries often lie exactly one window span apart
        clock += draw(st.sampled_from([0, 1, 30, 60, 60, 120, 240])) * MINUTE_MS
        at = BASE + clock
        if step == "late":
            at -= draw(st.sampled_from([1, 60, 180, 24 * 60, 30 * 60])) * MINUTE_MS
        if step == "late login":  # a login back-dated by days: a session older than the rest
            at -= draw(st.sampled_from([60, 50 * 60, 80 * 60])) * MINUTE_MS
        if step in ("login", "logout", "late login"):
            events.append(session(at, step.split()[-1], f"s{draw(st.integers(1, 2))}"))
            continue
        amount = draw(st.integers(5_000, 150_000))
        if draw(st.booleans()):
            events.append(stake(at, amount, "EUR", "MGA", bet_id=f"b{n}"))
        else:
            events.append(payout(at, amount, f"b{n}", "EUR", "MGA"))
    return events


def _by_definition(rules: aml.Rules, items, name: str, span: int, legacy: int) -> bool:
    """Every window an entry falls into, each summed from its entries."""
    qualified = False
    for linked in windows_through(items, rules.now, span, aml.TX_USED, legacy):
        total = sum(i[1] for i in linked)
        if len(linked) > 1 and total >= rules.threshold:
            qualified = True
            window = f"{name}@{iso(linked[0][0])}"  # name: "24h:stake", say
            evidence = [i[2] for i in linked]
            rules.alert("aml_threshold_24h", window, "medium", evidence, total, rules.threshold)
            mark_used(linked, aml.TX_USED)
    return qualified


def _alerts(p: Player) -> list[tuple[str, str, tuple[str, ...], int]]:
    return [(s.code, s.window, tuple(s.evidence), s.value_minor) for s in p.signals]


@CHECKS
@given(activity())
def test_running_totals_raise_what_summing_every_window_raises(events):
    running = Player("aml.alert")
    running.feed(*copy.deepcopy(events))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aml.Rules, "in_time_order", staticmethod(lambda items, entry: False))
        patch.setattr(aml.Rules, "_rolling_late", _by_definition)
        summed = Player("aml.alert")
        summed.feed(*copy.deepcopy(events))
    assert _alerts(running) == _alerts(summed)
    assert running.state["aml"]["tx"] == summed.state["aml"]["tx"]  # the same entries used


def test_three_stakes_in_order_link_once_and_the_total_starts_again_after_the_alert():
    """EUR 800 + 700 + 600 = 2,100 within 24 h: one alert on the third stake, then the fourth
    (EUR 900) starts a new total and raises nothing alone."""
    p = Player("aml.alert")
    fired = p.feed(
        stake(BASE, 80_000, "EUR", "MGA"),
        stake(BASE + HOUR_MS, 70_000, "EUR", "MGA"),
        stake(BASE + 2 * HOUR_MS, 60_000, "EUR", "MGA"),
        stake(BASE + 3 * HOUR_MS, 90_000, "EUR", "MGA"),
    )
    assert fired == [("aml_threshold_24h", "24h:stake@2026-06-10T00:00:00Z")]
    assert p.signals[0].value_minor == 210_000
    assert p.state["aml"]["sums"]["24h:stake"] == [BASE + 3 * HOUR_MS - 24 * HOUR_MS,
                                                    BASE + 3 * HOUR_MS, 90_000, 1]  # fmt: skip


def test_a_late_stakes_windows_leave_out_the_entry_exactly_one_span_before_their_end():
    """EUR 1,500 at 00:00 and at 24:00, then EUR 400 at 23:00 arriving last. Its windows end at
    23:00 (00:00 + 400 = 1,900) and at 24:00 ((00:00, 24:00]: 400 + 1,500 = 1,900; the stake
    at exactly 00:00 is outside): nothing reaches EUR 2,000."""
    p = Player("aml.alert")
    assert (
        p.feed(
            stake(BASE, 150_000, "EUR", "MGA"),
            stake(BASE + 24 * HOUR_MS, 150_000, "EUR", "MGA"),
            stake(BASE + 23 * HOUR_MS, 40_000, "EUR", "MGA"),
        )
        == []
    )


def test_a_login_sent_again_days_later_does_not_revive_a_forgotten_sessions_total():
    """EUR 900 + 900 in a session on day 0, a logout, EUR 100 on day 3 (the day-0 stakes are
    pruned: they are 48 h behind), then the day-0 login arrives again (resent upstream with
    a new event id) and EUR 300 follows. The session's window now holds EUR 400: nothing to
    raise. A total carried over from day 0 would still count the pruned EUR 1,800."""
    p = Player("aml.alert")
    day3 = BASE + 3 * 24 * HOUR_MS
    fired = p.feed(
        session(BASE + 10 * HOUR_MS, "login"),
        stake(BASE + 11 * HOUR_MS, 90_000, "EUR", "MGA"),
        stake(BASE + 12 * HOUR_MS, 90_000, "EUR", "MGA"),
        session(BASE + 13 * HOUR_MS, "logout"),
        stake(day3 + 12 * HOUR_MS, 10_000, "EUR", "MGA"),
        session(BASE + 10 * HOUR_MS, "login"),
        stake(day3 + 13 * HOUR_MS, 30_000, "EUR", "MGA"),
    )
    assert fired == []
    assert [i[1] for i in p.state["aml"]["tx"]["stake"]] == [10_000, 30_000]


def _older_transaction(rules: aml.Rules, category: str, amount: int, event_id: str) -> None:
    """A stake as a worker from before the running totals judged it: the entry and the windows
    it falls into, summed from their entries, the totals left as they were."""
    items = rules.st["tx"][category]
    insert_sorted(items, [rules.now, amount, event_id])
    span = rules.cfg.linked_hours
    _by_definition(rules, items, f"{span}h:{category}", span * HOUR_MS, -1)


def test_totals_left_behind_by_an_older_worker_are_summed_afresh():
    """EUR 900 at 10:00 and 11:00 (a running total of 1,800), then an older worker (a
    rollback) judges EUR 300 at 12:00: 2,100, one alert, all three used. Back on this code,
    EUR 400 at 13:00 is alone in its window (the rest is used): no alert. The 1,800 left in
    the state would have made it 2,200 over four stakes."""
    p = Player("aml.alert")
    p.feed(stake(BASE + 10 * HOUR_MS, 90_000, "EUR", "MGA"),
           stake(BASE + 11 * HOUR_MS, 90_000, "EUR", "MGA"))  # fmt: skip
    stamp = p.state["aml"]["sums_seq"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aml.Rules, "transaction", _older_transaction)
        assert p.feed(stake(BASE + 12 * HOUR_MS, 30_000, "EUR", "MGA")) == [
            ("aml_threshold_24h", "24h:stake@2026-06-10T10:00:00Z")
        ]
    p.state["aml"]["sums_seq"] = stamp  # an older worker records no sequence beside the totals
    assert p.feed(stake(BASE + 13 * HOUR_MS, 40_000, "EUR", "MGA")) == []
    assert p.state["aml"]["sums"]["24h:stake"][2:] == [40_000, 1]
