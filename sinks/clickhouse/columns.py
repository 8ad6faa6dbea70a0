"""The meaning of every fact and mart column, from one source (`columns.toml`): applied as
ClickHouse COMMENTs at each `marts migrate` and rendered as the README's column table.

Facts (MergeTree tables) get a COMMENT per column and one for the table. ClickHouse cannot
comment a view's columns, so a mart's table COMMENT carries its column glossary instead. A
column without an entry is an error at migrate time: a new column is documented or refused.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("columns.toml")
SKIPPED = {"schema_migrations"}  # bookkeeping, not for analysts


class UndocumentedColumn(ValueError):
    pass


@cache
def glossary() -> dict[str, Any]:
    return tomllib.loads(SOURCE.read_text())


def meaning(table: str, column: str) -> str:
    own = glossary()["tables"].get(table, {})
    found = own.get(column, glossary()["common"].get(column))
    if found is None or column == "comment":
        raise UndocumentedColumn(
            f"column {table}.{column} has no entry in {SOURCE.name}: add one under "
            f"[tables.{table}] (or [common])"
        )
    return found


def table_comment(table: str, columns: list[str], is_view: bool) -> str:
    comment = glossary()["tables"][table]["comment"]
    if not is_view:
        return comment
    return (
        comment
        + " Columns: "
        + "; ".join(f"{c}: {meaning(table, c).rstrip('.')}" for c in columns)
        + "."
    )


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def apply(client: Any, database: str) -> int:
    """Bring every comment in `database` in line with the glossary; returns how many changed
    (none on a second run)."""
    tables = {name: (bool(is_view), comment) for name, is_view, comment in client.query(
        "SELECT name, engine = 'View', comment FROM system.tables WHERE database = {db:String}",
        parameters={"db": database},
    ).result_rows}  # fmt: skip
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, name, comment in client.query(
        "SELECT table, name, comment FROM system.columns WHERE database = {db:String} "
        "ORDER BY table, position",
        parameters={"db": database},
    ).result_rows:
        columns.setdefault(table, []).append((name, comment))
    changed = 0
    for table, (is_view, current) in sorted(tables.items()):
        if table in SKIPPED:
            continue
        names = [n for n, _ in columns.get(table, [])]
        if not is_view:
            for name, comment in columns.get(table, []):
                wanted = meaning(table, name)
                if comment != wanted:
                    client.command(f"ALTER TABLE {database}.{table} COMMENT COLUMN {name} "
                                   f"{_quote(wanted)}")  # fmt: skip
                    changed += 1
        wanted = table_comment(table, names, is_view)
        if current != wanted:
            client.command(f"ALTER TABLE {database}.{table} MODIFY COMMENT {_quote(wanted)}")
            changed += 1
    return changed


def markdown() -> str:
    """The README's table: one row per table and column, in the glossary's order."""
    rows = ["| table | column | meaning |", "| --- | --- | --- |"]
    for table, entry in glossary()["tables"].items():
        rows.append(f"| `{table}` | | {entry['comment']} |")
        for column, text in entry.items():
            if column != "comment":
                rows.append(f"| | `{column}` | {text} |")
    common = ", ".join(f"`{c}` ({t})" for c, t in glossary()["common"].items())
    return "\n".join(rows) + f"\n\nShared by several tables: {common}\n"
