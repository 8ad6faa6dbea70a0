"""`wagerstream topics` and `wagerstream schemas`: the wire on the broker and in schemas/avro/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from foundation.settings import get_settings
from wagerstream.cli.common import console, err, fail

app = typer.Typer(help="The topic catalogue on the broker.", no_args_is_help=True)
schemas = typer.Typer(help="The Avro contract in schemas/avro/.", no_args_is_help=True)


@app.command("create")
def topics_create() -> None:
    """Create every catalogue topic that is missing (idempotent)."""
    from topics.admin import TopicError, create_topics

    s = get_settings()
    try:
        report = create_topics(s.kafka, s.topic_partitions, s.topic_replication)
    except TopicError as exc:
        fail(str(exc))
    console.print(f"created {len(report.created)}, already there {len(report.existing)}")
    if report.mismatched:
        fail(
            "partition counts differ (co-partitioning broken; recreate these topics or set "
            "WAGERSTREAM_TOPIC_PARTITIONS to match): " + "; ".join(report.mismatched)
        )


@schemas.command("check")
def schemas_check(
    rev: Annotated[str, typer.Option(help="Git revision to compare against.")] = "HEAD",
    against: Annotated[
        Path | None, typer.Option(help="A folder of older .avsc files to compare against.")
    ] = None,
) -> None:
    """Fail when a schema does not parse, or is not backward compatible with its version at
    REV (in a git checkout) or in AGAINST."""
    from topics.compat import NotInGit, check_against_dir, check_against_git
    from topics.serde import SCHEMA_DIR, SchemaStore

    try:
        loaded = SchemaStore(SCHEMA_DIR)
    except Exception as exc:
        fail(f"the schemas in {SCHEMA_DIR} do not load: {exc}")
    if against is not None:
        if not against.is_dir():
            fail(f"--against {against}: not a folder; give one holding the older .avsc files")
        report, rev = check_against_dir(SCHEMA_DIR, against), str(against)
    else:
        try:
            report = check_against_git(SCHEMA_DIR, rev)
        except NotInGit:
            console.print(
                f"{len(loaded.by_stem)} schema(s) load from {SCHEMA_DIR}; not a git checkout, "
                "so compatibility is not checked (give --against a folder of older schemas)"
            )
            return
    bad = {name: problems for name, problems in report.items() if problems}
    for name, problems in sorted(bad.items()):
        for p in problems:
            err.print(f"[red]{name}[/]: {p}")
    if bad:
        fail(
            f"{len(bad)} schema(s) not backward compatible with {rev}. Fix: give new fields a "
            "default, keep old enum symbols, or add a new topic for a breaking change."
        )
    console.print(f"{len(report)} schema(s) backward compatible with {rev}")
