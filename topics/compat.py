"""Avro backward-compatibility check: can a reader on the new schema read data written with the
old one? That is what lets consumers upgrade before producers, and it is what
`wagerstream schemas check` enforces against the last committed version of each schema.

The rules are Avro's schema-resolution rules (specification, "Schema Resolution"), applied to
the schema JSON; logical types resolve as their underlying type.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}


class _Names:
    """Named types (records, enums, fixed) by full name, so references can be followed."""

    def __init__(self) -> None:
        self.types: dict[str, dict[str, Any]] = {}

    def collect(self, node: Any, namespace: str = "") -> None:
        if isinstance(node, list):
            for n in node:
                self.collect(n, namespace)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind in ("record", "error", "enum", "fixed"):
                namespace = node.get("namespace", namespace)
                name = node["name"] if "." in node["name"] else f"{namespace}.{node['name']}"
                self.types[name.lstrip(".")] = {**node, "_ns": namespace}
                self.types.setdefault(node["name"].split(".")[-1], self.types[name.lstrip(".")])
                for f in node.get("fields", []):
                    self.collect(f["type"], namespace)
            elif kind in ("array", "map"):
                self.collect(node.get("items", node.get("values")), namespace)
            elif isinstance(kind, (dict, list)):
                self.collect(kind, namespace)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, str) and node not in PRIMITIVES:
            return self.types.get(node, self.types.get(node.split(".")[-1], node))
        if isinstance(node, dict) and node.get("type") in PRIMITIVES:
            return node["type"]  # {"type": "long", "logicalType": ...} reads as long
        if isinstance(node, dict) and isinstance(node.get("type"), (dict, list)):
            return self.resolve(node["type"])
        return node


def _kind(node: Any) -> str:
    if isinstance(node, list):
        return "union"
    if isinstance(node, dict):
        return node["type"]
    return node


def incompatibilities(writer: Any, reader: Any) -> list[str]:
    """Why `reader` cannot read data written with `writer`; empty when it can."""
    wn, rn = _Names(), _Names()
    wn.collect(writer)
    rn.collect(reader)
    problems: list[str] = []
    _check(wn.resolve(writer), rn.resolve(reader), wn, rn, "$", problems, set())
    return problems


def _check(w: Any, r: Any, wn: _Names, rn: _Names, path: str, out: list[str], seen: set) -> None:
    wk, rk = _kind(w), _kind(r)
    if wk == "union":
        for i, branch in enumerate(w):
            _check(wn.resolve(branch), r, wn, rn, f"{path}|{i}", out, seen)
        return
    if rk == "union":
        for branch in r:
            sub: list[str] = []
            _check(w, rn.resolve(branch), wn, rn, path, sub, seen)
            if not sub:
                return
        out.append(f"{path}: writer type {wk} matches no branch of the reader's union")
        return
    if wk in PRIMITIVES or rk in PRIMITIVES:
        if wk != rk and rk not in PROMOTIONS.get(wk, set()):
            out.append(f"{path}: {wk} cannot be read as {rk}")
        return
    if wk != rk:
        out.append(f"{path}: {wk} cannot be read as {rk}")
        return
    if wk in ("record", "error"):
        key = (w["name"], r["name"])
        if key in seen:  # recursive type already being checked
            return
        seen = seen | {key}
        if w["name"].split(".")[-1] != r["name"].split(".")[-1] and w["name"] not in r.get(
            "aliases", []
        ):
            out.append(f"{path}: record {w['name']} became {r['name']} without an alias")
        wfields = {f["name"]: f for f in w.get("fields", [])}
        for f in r.get("fields", []):
            names = [f["name"], *f.get("aliases", [])]
            match = next((wfields[n] for n in names if n in wfields), None)
            if match is None:
                if "default" not in f:
                    out.append(f"{path}.{f['name']}: new field without a default")
                continue
            _check(
                wn.resolve(match["type"]),
                rn.resolve(f["type"]),
                wn,
                rn,
                f"{path}.{f['name']}",
                out,
                seen,
            )
    elif wk == "enum":
        missing = set(w["symbols"]) - set(r["symbols"])
        if missing and "default" not in r:
            out.append(
                f"{path}: enum {r['name']} lost symbols {sorted(missing)} and has no default"
            )
    elif wk == "array":
        _check(wn.resolve(w["items"]), rn.resolve(r["items"]), wn, rn, f"{path}[]", out, seen)
    elif wk == "map":
        _check(wn.resolve(w["values"]), rn.resolve(r["values"]), wn, rn, f"{path}{{}}", out, seen)
    elif wk == "fixed" and w.get("size") != r.get("size"):
        out.append(f"{path}: fixed size {w.get('size')} became {r.get('size')}")


class NotInGit(RuntimeError):
    """The schemas are not in a git checkout (an installed wheel): nothing to compare with."""


def check_against_dir(schema_dir: Path, old_dir: Path) -> dict[str, list[str]]:
    """Every schema of `old_dir` (say, the previous release's) against its version here."""
    report: dict[str, list[str]] = {}
    for old in sorted(old_dir.glob("*.avsc")):
        path = schema_dir / old.name
        if not path.exists():
            report[old.name] = ["schema deleted: consumers of its topic can no longer read it"]
            continue
        report[old.name] = incompatibilities(
            json.loads(old.read_text()), json.loads(path.read_text())
        )
    return report


def check_against_git(schema_dir: Path, rev: str = "HEAD") -> dict[str, list[str]]:
    """For every schema changed since `rev`: its incompatibilities (deleted schemas included)."""
    found = subprocess.run(
        ["git", "-C", str(schema_dir), "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        raise NotInGit(f"{schema_dir} is not in a git checkout")
    repo = found.stdout.strip()
    rel = schema_dir.resolve().relative_to(Path(repo).resolve())
    listed = subprocess.run(
        ["git", "-C", repo, "ls-tree", "--name-only", f"{rev}:{rel}"],
        capture_output=True,
        text=True,
    )
    committed = (
        [n for n in listed.stdout.split() if n.endswith(".avsc")] if listed.returncode == 0 else []
    )
    report: dict[str, list[str]] = {}
    for name in committed:
        old = json.loads(
            subprocess.run(
                ["git", "-C", repo, "show", f"{rev}:{rel}/{name}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        path = schema_dir / name
        if not path.exists():
            report[name] = ["schema deleted: consumers of its topic can no longer read it"]
            continue
        report[name] = incompatibilities(old, json.loads(path.read_text()))
    return report
