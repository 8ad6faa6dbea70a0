"""The rules alone: decode, contract, every rule and the read models, without Faust or I/O.

    .venv/bin/wagerstream bench rules [--runs 3] [--events 30000] [--heavy-bets 2000]

Simulated operator events (Kafka events only) are encoded once, then decoded and handed to the
player agent's handler in batches of 1,000 with state in plain dicts, and each batch's read
models are computed as the runner does; each batch's changed state is written back to the
dicts, as a flush would, so a player's history carries over from batch to batch. The figure
is the application's share of a worker's cost per event; the throughput benchmark gives the
whole.

A second figure is one heavy casino player: `heavy_bets` bets (placed and settled) a few
hundred milliseconds apart, all inside one 24-hour AML window, so the rules' per-player
histories are as long as a busy slot player's; it reports the µs per event and the player's
encoded state at the end.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

import orjson

from bench import results
from foundation.units import HOUR_MS
from loadgen.bets import generate
from loadgen.operator import kafka_events
from topics.deadletter import decode_checked
from topics.serde import AvroSerde

BATCH = 1000


class _DictTable(dict):  # type: ignore[type-arg]
    """A table stand-in: BatchState needs only `.name` and `.get`."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


def _encoded(events: Iterable[tuple[str, dict[str, Any]]]) -> list[tuple[str, bytes, bytes]]:
    serde = AvroSerde()
    return [
        (topic, serde.encode(topic, record), record["player_id"].encode())
        for topic, record in events
    ]


def _messages(events: int) -> list[tuple[str, bytes, bytes]]:
    start = int(time.time() * 1000) - 4 * HOUR_MS
    return _encoded(itertools.islice(kafka_events("rules", start), events))


def _heavy_messages(bets: int) -> list[tuple[str, bytes, bytes]]:
    start = int(time.time() * 1000) - 12 * HOUR_MS  # settlements come hours after a bet
    return _encoded(generate("heavy", bets, players=1, seed=5, start_ms=start).events)


def _run(messages: list[tuple[str, bytes, bytes]]) -> tuple[float, dict[str, _DictTable]]:
    """µs per event over `messages`, and the tables they leave behind."""
    from agents import players, settlement
    from agents.runner import BatchState

    tables = {"player_risk": _DictTable("player_risk"), "open_bets": _DictTable("open_bets")}
    players.player_risk = tables["player_risk"]  # type: ignore[assignment]
    settlement.open_bets = tables["open_bets"]  # type: ignore[assignment]
    serde = AvroSerde()
    began = time.perf_counter()
    for first in range(0, len(messages), BATCH):
        batch = BatchState()
        batch.event = SimpleNamespace(message=SimpleNamespace(partition=0, timestamp=time.time()))
        writes: dict[str, Any] = {}
        for topic, value, key in messages[first : first + BATCH]:
            schema, record = decode_checked(serde, topic, value, key, 300_000)
            for write in players.handle(batch, schema, record).writes:
                writes[write.key] = write
        for write in writes.values():
            write.resolved()
        for name, key, value in batch.changes():  # the flush: state outlives the batch
            tables[name][key] = value
    return (time.perf_counter() - began) / len(messages) * 1e6, tables


def run(runs: int = 3, events: int = 30_000, heavy_bets: int = 2_000) -> dict[str, Any]:
    messages = _messages(events)
    heavy = _heavy_messages(heavy_bets)
    per_event, heavy_per_event = [], []
    for _ in range(runs):
        per_event.append(_run(messages)[0])
        took, tables = _run(heavy)
        heavy_per_event.append(took)
    state_bytes = sum(len(orjson.dumps(v)) for v in tables["player_risk"].values())
    summary = {
        "benchmark": "rules",
        "date": results.today(),
        "events": len(messages),
        **_us_per_event(per_event),
        "events_per_s_if_alone": round(1e6 / statistics.median(per_event)),
        "heavy_player": {
            "bets": heavy_bets,
            "events": len(heavy),
            **_us_per_event(heavy_per_event),
            "state_bytes": state_bytes,
        },
    }
    return results.write("rules", summary)


def _us_per_event(runs: list[float]) -> dict[str, Any]:
    return {
        "us_per_event": round(statistics.median(runs), 1),
        "us_per_event_range": [round(min(runs), 1), round(max(runs), 1)],
    }
