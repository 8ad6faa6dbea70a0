"""Batches grow only while a worker is behind (`agents/runner.keep_collecting`): a backlog is
handled in large batches, a worker keeping up handles each batch at once."""

from __future__ import annotations

from agents.runner import keep_collecting


def test_batches_grow_only_while_the_worker_is_behind() -> None:
    # keeping up: fewer than a batch (1000) after the newest events taken: handle at once
    assert not keep_collecting(80, 0.05, 999, True, 1000, 5000, 0.5)
    # behind: keep collecting until 5000 events or 0.5 s
    assert keep_collecting(80, 0.05, 1000, True, 1000, 5000, 0.5)
    assert keep_collecting(4999, 0.49, 200_000, True, 1000, 5000, 0.5)
    assert not keep_collecting(5000, 0.1, 200_000, True, 1000, 5000, 0.5)
    assert not keep_collecting(300, 0.5, 200_000, True, 1000, 5000, 0.5)
    # a suspended flow (a rebalance) never waits: the rebalance waits for these events
    assert not keep_collecting(80, 0.05, 200_000, False, 1000, 5000, 0.5)
