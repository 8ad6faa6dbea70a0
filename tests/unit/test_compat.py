"""Avro backward compatibility: the rules, and `schemas check` against git."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from topics.compat import check_against_git, incompatibilities

BASE = {
    "type": "record",
    "name": "E",
    "namespace": "n",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "n", "type": "int"},
        {"name": "kind", "type": {"type": "enum", "name": "K", "symbols": ["a", "b"]}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}


def with_fields(*fields: dict) -> dict:
    return {**BASE, "fields": list(fields)}


def test_identical_is_compatible() -> None:
    assert incompatibilities(BASE, BASE) == []


def test_new_field_needs_a_default() -> None:
    assert incompatibilities(BASE, with_fields(*BASE["fields"], {"name": "x", "type": "long"})) == [
        "$.x: new field without a default"
    ]
    assert (
        incompatibilities(
            BASE,
            with_fields(*BASE["fields"], {"name": "x", "type": ["null", "long"], "default": None}),
        )
        == []
    )


def test_removed_field_is_fine_for_a_reader() -> None:
    assert incompatibilities(BASE, with_fields(*BASE["fields"][:2], BASE["fields"][3])) == []


def test_promotions() -> None:
    widened = with_fields(BASE["fields"][0], {"name": "n", "type": "long"}, *BASE["fields"][2:])
    assert incompatibilities(BASE, widened) == []
    assert incompatibilities(widened, BASE) == ["$.n: long cannot be read as int"]


def test_enum_symbols() -> None:
    more = json.loads(json.dumps(BASE))
    more["fields"][2]["type"]["symbols"] = ["a", "b", "c"]
    assert incompatibilities(BASE, more) == []
    assert incompatibilities(more, BASE) == ["$.kind: enum K lost symbols ['c'] and has no default"]


def test_making_a_field_nullable_is_fine_but_not_the_reverse() -> None:
    nullable = with_fields(
        {"name": "id", "type": ["null", "string"], "default": None}, *BASE["fields"][1:]
    )
    assert incompatibilities(BASE, nullable) == []
    assert incompatibilities(nullable, BASE) == ["$.id|0: null cannot be read as string"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_check_against_last_commit(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "e.avsc").write_text(json.dumps(BASE))
    (schemas / "gone.avsc").write_text(json.dumps({**BASE, "name": "G"}))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init")
    assert check_against_git(schemas) == {"e.avsc": [], "gone.avsc": []}

    (schemas / "e.avsc").write_text(
        json.dumps(with_fields(*BASE["fields"], {"name": "x", "type": "int"}))
    )
    (schemas / "gone.avsc").unlink()
    (schemas / "new.avsc").write_text(json.dumps({**BASE, "name": "N"}))  # new: nothing to break
    report = check_against_git(schemas)
    assert report["e.avsc"] == ["$.x: new field without a default"]
    assert report["gone.avsc"] == ["schema deleted: consumers of its topic can no longer read it"]
    assert "new.avsc" not in report
