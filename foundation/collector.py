"""The garbage collector's policy for a long-running process, and its pauses as a metric.

CPython's cycle collector runs its oldest generation whenever the objects promoted since the
last full collection reach a quarter of the long-lived ones. A worker promotes a steady stream
of objects that live a little while (the events of a batch, their decoded records, the state
values between two flushes) and die by reference counting soon after, so the full collection
comes round every couple of seconds and walks every object the process holds: the imported
modules, Faust's app, and the state cache. A profile of a drain found it taking a fifth of the
worker's CPU time, in stop-the-world pauses of 0.3-0.45 s (`bench/results/
2026-12-07-gc-pauses.txt`).

Two measures, both standard for long-running CPython services:
- a larger young generation (`young`, Python's `threshold0`, 700 by default), so a batch's
  objects die before they are promoted;
- `gc.freeze()` once start-up is done: what exists then (modules, classes, the app) lives as
  long as the process and moves to the permanent generation that no collection walks.
Reference counting frees everything as before; only cycles among frozen objects would wait,
and start-up collects once before it freezes.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from foundation.metrics import GC_PAUSES


def tune(young: int, freeze: bool) -> int:
    """Collect what start-up left, freeze the survivors (if `freeze`) and set the young
    generation's size; the older generations keep Python's multipliers. Returns how many
    objects are frozen."""
    gc.collect()
    if freeze:
        gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
    return gc.get_freeze_count()


class PauseWatch:
    """A `gc.callbacks` entry observing each collection's pause in `GC_PAUSES`. The callback
    runs inside the interpreter's collection, so it does nothing that could raise."""

    def __init__(self) -> None:
        self._started = 0.0
        self._children = [GC_PAUSES.labels(str(generation)) for generation in range(3)]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started:
            self._children[info["generation"]].observe(time.perf_counter() - self._started)
            self._started = 0.0


def watch_pauses() -> PauseWatch:
    """Observe every collection's pause from now on (once per process)."""
    for callback in gc.callbacks:
        if isinstance(callback, PauseWatch):
            return callback
    watch = PauseWatch()
    gc.callbacks.append(watch)
    return watch
