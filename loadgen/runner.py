"""Play a simulated operator (`loadgen/operator.py`) against the stack.

Actions are paced by simulated time (`speedup` simulated seconds per wall second, so the
kick-off burst stays a burst) or sent as fast as possible. Several sender threads post to
the ledger and produce to Kafka; each player is pinned to one thread, so a player's postings
reach the ledger in simulated order (balances, loss chasing) while players run in parallel.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field

from rich.progress import Progress

from ledger.client import Ledger, LedgerError
from loadgen.operator import Action, Traffic
from loadgen.producer import EventProducer

PROGRESS_LINE_S = 10.0

log = logging.getLogger(__name__)


@dataclass
class PlayStats:
    actions: int = 0
    events: int = 0
    postings: int = 0
    refused: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (wall s, actions done)

    @property
    def rate(self) -> float:
        return self.actions / self.seconds if self.seconds else 0.0


def open_players(dsn: str, traffic: Traffic) -> None:
    with Ledger(dsn) as ledger:
        for p in traffic.players:
            ledger.open_player(p.tenant, p.brand, p.jurisdiction, p.player, p.currency)


def _sender(
    dsn: str, producer: EventProducer, inbox: queue.Queue, stats: PlayStats, lock: threading.Lock
) -> None:
    with Ledger(dsn) as ledger:
        while True:
            action: Action | None = inbox.get()
            if action is None:
                return
            if action.post is not None:
                p = action.post
                try:
                    ledger.post(
                        p.key, p.kind, p.tenant, p.brand, p.player, p.currency, p.amount_minor
                    )
                except LedgerError as exc:  # counted and reported, never silently dropped
                    with lock:
                        stats.refused.append(f"{p.kind} {p.key}: {exc}")
            else:
                assert action.topic is not None and action.record is not None
                producer.send(action.topic, action.record)
            with lock:
                stats.actions += 1
                if action.post is not None:
                    stats.postings += 1
                else:
                    stats.events += 1


def play(
    traffic: Traffic,
    dsn: str,
    producer: EventProducer,
    speedup: float | None,
    sim_start_ms: int,
    threads: int = 4,
    show_progress: bool = True,
) -> PlayStats:
    """Send every action; `speedup=None` means as fast as possible."""
    open_players(dsn, traffic)
    stats = PlayStats()
    lock = threading.Lock()
    inboxes: list[queue.Queue] = [queue.Queue(maxsize=5000) for _ in range(threads)]
    workers = [
        threading.Thread(target=_sender, args=(dsn, producer, inbox, stats, lock), daemon=True)
        for inbox in inboxes
    ]
    for w in workers:
        w.start()
    began = time.monotonic()
    next_sample = began
    # without a terminal a bar prints nothing until the end: a plain line every 10 s instead
    plain = show_progress and not sys.stdout.isatty()
    next_line = began + PROGRESS_LINE_S
    with Progress(disable=not show_progress or plain, transient=False) as progress:
        task = progress.add_task("sending", total=len(traffic.actions))
        for action in traffic.actions:
            if speedup:
                due = began + max(0, action.at_ms - sim_start_ms) / 1000 / speedup
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            inboxes[zlib.crc32(action.player.encode()) % threads].put(action)
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + 0.5
                stats.timeline.append((now - began, stats.actions))
                progress.update(task, completed=stats.actions)
            if plain and now >= next_line:
                next_line = now + PROGRESS_LINE_S
                print(f"sending: {stats.actions} of {len(traffic.actions)} actions, "
                      f"{now - began:.0f} s", flush=True)  # fmt: skip
        for inbox in inboxes:
            inbox.put(None)
        for w in workers:
            w.join()
        producer.flush()
        progress.update(task, completed=stats.actions)
    stats.seconds = time.monotonic() - began
    stats.timeline.append((stats.seconds, stats.actions))
    return stats
