"""The worker's garbage-collector policy: thresholds, the freeze, and the pause metric."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from foundation import collector


@pytest.fixture
def restored() -> Iterator[None]:
    """Put the interpreter's collector back as the test found it."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def tracked(obj: object) -> bool:
    """Whether `obj` is in a generation a collection walks (frozen objects are in none)."""
    return any(o is obj for o in gc.get_objects())


def test_tune_sets_the_young_generation_and_keeps_the_older_multipliers(restored) -> None:
    gc.set_threshold(700, 11, 12)
    collector.tune(50_000, freeze=False)
    assert gc.get_threshold() == (50_000, 11, 12)


def test_tune_freezes_what_exists_and_not_what_comes_after(restored) -> None:
    before = [["start-up"]]
    frozen = collector.tune(50_000, freeze=True)
    after = [["batch"]]
    assert frozen == gc.get_freeze_count() > 0
    assert not tracked(before)
    assert tracked(after)
    gc.unfreeze()
    assert tracked(before)


def test_without_freeze_nothing_is_frozen(restored) -> None:
    before = [["start-up"]]
    assert collector.tune(50_000, freeze=False) == 0
    assert tracked(before)


def pauses(generation: int) -> float:
    value = REGISTRY.get_sample_value(
        "wagerstream_gc_pause_seconds_count", {"generation": str(generation)}
    )
    return value or 0.0


def test_each_collection_is_one_pause_of_its_generation() -> None:
    watch = collector.watch_pauses()
    try:
        assert collector.watch_pauses() is watch
        assert [c for c in gc.callbacks if isinstance(c, collector.PauseWatch)] == [watch]
        gc.disable()  # only the explicit collections below
        full, young = pauses(2), pauses(0)
        gc.collect()
        gc.collect()
        gc.collect(0)
        assert (pauses(2) - full, pauses(0) - young) == (2, 1)
    finally:
        gc.enable()
        gc.callbacks.remove(watch)
