"""The simulated operator: reproducible for a seed, never overdraws, labels every pattern."""

from __future__ import annotations

from collections import Counter

from loadgen.operator import PATTERNS, simulate

START = 1_795_000_000_000


def _fingerprint(traffic) -> list:
    return [(a.at_ms, a.player, a.topic, a.record, a.post) for a in traffic.actions]


def test_same_seed_same_events_other_seed_other_events() -> None:
    one, two = simulate("t", 60, 3, START), simulate("t", 60, 3, START)
    assert _fingerprint(one) == _fingerprint(two)
    assert one.labels == two.labels
    assert _fingerprint(simulate("t", 60, 4, START)) != _fingerprint(one)


def test_played_in_time_order_no_balance_goes_negative() -> None:
    traffic = simulate("t", 300, 5, START)
    # (cash, bonus) per unit of amount, as ledger/migrations/0002_post_transfer.sql posts them
    legs = {"deposit": (1, 0), "win": (1, 0), "refund": (1, 0), "stake": (-1, 0),
            "withdrawal": (-1, 0), "bonus_grant": (0, 1), "bonus_convert": (1, -1),
            "bonus_forfeit": (0, -1)}  # fmt: skip
    cash: Counter = Counter()
    bonus: Counter = Counter()
    kinds: Counter = Counter()
    for action in traffic.actions:  # the order the runner plays them, per player
        if action.post is not None:
            to_cash, to_bonus = legs[action.post.kind]
            cash[action.player] += to_cash * action.post.amount_minor
            bonus[action.player] += to_bonus * action.post.amount_minor
            kinds[action.post.kind] += 1
            assert cash[action.player] >= 0 and bonus[action.player] >= 0, action
    # one normal player in eight (indices 3, 11, ..., 299) gets a bonus, closed at logout
    assert kinds["bonus_grant"] == 38 == kinds["bonus_convert"] + kinds["bonus_forfeit"]
    assert kinds["bonus_convert"] > 0 and kinds["bonus_forfeit"] > 0
    assert all(b == 0 for b in bonus.values())
    assert all(
        a.at_ms <= b.at_ms for a, b in zip(traffic.actions, traffic.actions[1:], strict=False)
    )


def test_every_pattern_is_labelled_per_player() -> None:
    traffic = simulate("t", 20, 9, START, per_pattern=4)
    counts = Counter(label["code"] for label in traffic.labels)
    assert counts == {p: 12 if p == "shared_instrument" else 4 for p in PATTERNS}


def test_the_final_is_a_burst() -> None:
    traffic = simulate("t", 1000, 1, START)
    placed = [a.at_ms for a in traffic.actions if a.topic == "bet.placed" and a.at_ms >= START]
    window = 5 * 60_000
    before_kickoff = sum(traffic.kickoff_ms - window <= t < traffic.kickoff_ms for t in placed)
    average = len(placed) * window / (4 * 3_600_000)
    assert before_kickoff >= 10 * average
