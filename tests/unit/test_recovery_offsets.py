"""Faust's recovery seeks changelog partitions to offsets; an unknown one must mean "from the
start" (-1), never reach aiokafka as None (which raises and kills the worker)."""

from __future__ import annotations

from collections import Counter

from faust.types import TP

from agents.app import known_offsets


def test_unknown_and_impossible_offsets_read_from_the_start() -> None:
    a, b, c, d = (TP("t-changelog", p) for p in range(4))
    offsets: Counter[TP] = Counter({a: 41, b: -1})
    offsets[c] = None  # type: ignore[assignment]  # what Faust's Recovery._add leaves
    offsets[d] = -2
    assert sorted(known_offsets({a, b, c, d}, offsets)) == [c, d]
    assert dict(offsets) == {a: 41, b: -1, c: -1, d: -1}


def test_known_offsets_are_left_alone() -> None:
    a = TP("t-changelog", 0)
    offsets: Counter[TP] = Counter({a: 0})
    assert known_offsets({a}, offsets) == []
    assert offsets[a] == 0
