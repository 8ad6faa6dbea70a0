"""`wagerstream loadgen`: synthetic traffic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from foundation.settings import get_settings
from wagerstream.cli.common import Hours, PerPattern, Players, Seed, console, fail

app = typer.Typer(help="Synthetic traffic.", no_args_is_help=True)


@app.command("bets")
def loadgen_bets(
    count: Annotated[int, typer.Option(help="Bets to place.")] = 5000,
    tenant: Annotated[str, typer.Option(help="Tenant id of the traffic.")] = "demo",
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same events.")] = 7,
) -> None:
    """Send placed and settled bets (with duplicates and early settlements) to Kafka."""
    from loadgen.bets import generate
    from loadgen.producer import EventProducer
    from topics.serde import AvroSerde

    s = get_settings()
    traffic = generate(tenant, count, seed=seed)
    producer = EventProducer(s.kafka, AvroSerde(registry_url=s.schema_registry_url))
    for topic, record in traffic.events:
        producer.send(topic, record)
    producer.flush()
    console.print(f"sent {len(traffic.events)} events for {count} bets")


@app.command("run")
def loadgen_run(
    players: Players = 2000,
    per_pattern: PerPattern = 10,
    hours: Hours = 4.0,
    rate: Annotated[
        float | None, typer.Option(help="Average actions/s; none: as fast as possible.")
    ] = None,
    seed: Seed = 7,
    tenant: Annotated[str, typer.Option(help="Tenant id.")] = "demo",
    start_ms: Annotated[
        int | None, typer.Option(help="Simulated start (epoch ms); default now - hours.")
    ] = None,
    labels: Annotated[Path, typer.Option(help="Where the ground-truth labels go (JSON).")] = Path(
        "labels.json"
    ),
) -> None:
    """A simulated operator through the ledger and Kafka: players, sessions, bets with a
    kick-off burst, payments, limits and labelled risk patterns."""
    import json
    import time

    from ledger.migrate import migrate
    from loadgen.operator import HOUR_MS, simulate
    from loadgen.producer import EventProducer
    from loadgen.runner import play
    from topics.serde import AvroSerde

    s = get_settings()
    start = start_ms if start_ms is not None else int(time.time() * 1000) - int(hours * HOUR_MS)
    traffic = simulate(tenant, players, seed, start, hours, per_pattern)
    labels.write_text(json.dumps(traffic.labels, indent=1))
    migrate(s.postgres)
    speedup = rate * hours * 3600 / max(1, len(traffic.actions)) if rate else None
    producer = EventProducer(s.kafka, AvroSerde(registry_url=s.schema_registry_url))
    stats = play(traffic, s.postgres, producer, speedup, start)
    console.print(f"{traffic.counts()}; sent in {stats.seconds:.1f} s ({stats.rate:.0f}/s); "
                  f"labels in {labels}; ledger refused {len(stats.refused)}")  # fmt: skip
    if stats.refused:
        fail(f"the ledger refused {len(stats.refused)} postings, e.g. {stats.refused[0]}")
