"""Auxiliary work of every process (timers, gauges, lag probes, metric exports) runs guarded:
a failure is logged and counted in `wagerstream_background_failures_total{task}`, and the
process goes on. Only the processing path's own policy decides what stops a process."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

from prometheus_client import Counter

BACKGROUND_FAILURES = Counter(
    "wagerstream_background_failures_total",
    "Failures of a timer, gauge or background task (logged; the process goes on).",
    ["task"],
)


@contextlib.contextmanager
def guarded(task: str, log: logging.Logger, again_in_s: float | None = None) -> Iterator[None]:
    """Run the body; an exception in it is logged and counted, never raised."""
    try:
        yield
    except Exception:
        BACKGROUND_FAILURES.labels(task).inc()
        when = f"; it runs again in {again_in_s:.0f} s" if again_in_s is not None else ""
        log.exception("%s failed%s", task, when)


def every(
    task: str, interval_s: float, fn: Callable[[], None], stop: threading.Event,
    log: logging.Logger,
) -> threading.Thread:  # fmt: skip
    """A daemon thread calling `fn` every `interval_s` until `stop` is set, guarded."""

    def loop() -> None:
        while not stop.wait(interval_s):
            with guarded(task, log, interval_s):
                fn()

    thread = threading.Thread(target=loop, name=task, daemon=True)
    thread.start()
    return thread
