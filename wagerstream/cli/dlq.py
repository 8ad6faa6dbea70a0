"""`wagerstream dlq`: dead letters per topic and reason, one in full, and replay once fixed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from foundation.settings import get_settings
from wagerstream.cli.common import console, fail

app = typer.Typer(help="Dead letters: list, show, replay.", no_args_is_help=True)

Topics = Annotated[
    list[str] | None,
    typer.Option("--topic", "-t", help="Source topic (repeatable; default all), e.g. bet.placed."),
]


def _read(topics: list[str] | None) -> list[Any]:
    from topics.dlq import DlqError, read, source_topics

    try:
        return read(get_settings().kafka, source_topics(topics))
    except DlqError as exc:
        fail(f"{exc}. Fix: `wagerstream stack up`, or check WAGERSTREAM_KAFKA_BOOTSTRAP_SERVERS.")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


@app.command("list")
def dlq_list(topic: Topics = None) -> None:
    """Dead letters per source topic and reason: count, first and last (partition:offset on
    the dlq topic, as `show` and `replay --at` take them)."""
    from topics.dlq import summarise

    rows = summarise(_read(topic))
    table = Table("topic", "code", "count", "first", "last", "first at (UTC)", "last at (UTC)")
    for r in rows:
        table.add_row(r.topic, r.code, str(r.count), r.first, r.last, _when(r.first_ms),
                      _when(r.last_ms))  # fmt: skip
    console.print(table)
    console.print(f"{sum(r.count for r in rows)} dead letters")


def decoded(value: bytes | None) -> str:
    """The value as JSON: the Avro record where it still decodes, else the bytes themselves
    when they are JSON, else why neither."""
    from topics.serde import AvroSerde, DecodeError

    try:
        _, record = AvroSerde(registry_url=get_settings().schema_registry_url).decode(value)
        return json.dumps(record, indent=2, default=str)
    except DecodeError as exc:
        try:
            return json.dumps(json.loads(value or b""), indent=2)
        except ValueError:
            return f"(not JSON, and not Avro: {exc.reason})"


@app.command("show")
def dlq_show(
    topic: Annotated[str, typer.Argument(help="Source topic, e.g. bet.placed.")],
    at: Annotated[str, typer.Argument(help="partition:offset on dlq.<topic> (from `list`).")],
) -> None:
    """One dead letter: where it came from, why, its headers, its bytes as hex and, where they
    decode, as JSON."""
    from topics.dlq import select

    found = select(_read([topic]), at=[at])
    if not found:
        fail(f"no dead letter at {at} on dlq.{topic}. Fix: pick one from `wagerstream dlq list`.")
    letter = found[0]
    console.print(f"[bold]dlq.{topic} {letter.at}[/] at {_when(letter.timestamp_ms)} UTC")
    console.print(f"reason: {letter.error}")
    console.print(f"source: {letter.source}")
    key = (letter.key or b"").decode(errors="replace")
    console.print(f"key: {key!r}")
    headers = Table("header", "value")
    for k, v in letter.headers:
        headers.add_row(k, v.decode(errors="replace"))
    console.print(headers)
    value = letter.value or b""
    console.print(f"value: {len(value)} bytes")
    for i in range(0, len(value), 16):
        console.print(f"  {i:06x}  {value[i : i + 16].hex(' ')}", highlight=False)
    console.print("as JSON:")
    console.print(decoded(letter.value), highlight=False, markup=False)


@app.command("replay")
def dlq_replay(
    topic: Topics = None,
    code: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    at: Annotated[
        list[str] | None, typer.Option(help="Only these partition:offset (repeatable).")
    ] = None,
    key: Annotated[str | None, typer.Option(help="Only this record key (player id).")] = None,
    force: Annotated[
        bool, typer.Option(help="Replay even what still fails the checks (back to the DLQ).")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Say what would be replayed; send nothing.")] = (
        False
    ),
) -> None:
    """Send the selected dead letters back to their source topics, once what refused them is
    fixed. Each is checked first as the worker will check it; what still fails stays put and
    is listed with today's reason. Replaying twice changes nothing (the worker is idempotent)."""
    from topics.dlq import DlqError, replay, select
    from topics.serde import AvroSerde

    s = get_settings()
    chosen = select(_read(topic), code=code, at=at or (), key=key)
    if not chosen:
        fail("no dead letter matches. Fix: see `wagerstream dlq list` for topics and codes.")
    serde = AvroSerde(registry_url=s.schema_registry_url)
    try:
        report = replay(s.kafka, chosen, serde, s.max_clock_skew_ms, force=force, dry_run=dry_run)
    except DlqError as exc:
        fail(str(exc))
    for letter, reason in report.still_failing:
        console.print(f"still failing, kept: {letter.topic} {letter.at}: {reason}")
    verb = "would replay" if dry_run else "replayed"
    console.print(f"{verb} {len(report.replayed)}, still failing {len(report.still_failing)}")
    if report.still_failing and not report.replayed:
        raise typer.Exit(1)
