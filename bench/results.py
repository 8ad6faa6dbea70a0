"""Where benchmark results go, and how runs are summarised: one place for every benchmark."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Field-wise median over runs (nested dicts), plus min/max of each number."""
    first = runs[0]
    out: dict[str, Any] = {}
    for key, value in first.items():
        if isinstance(value, dict):
            out[key] = summarise([r[key] for r in runs])
        elif isinstance(value, (int, float)):
            values = [r[key] for r in runs]
            out[key] = round(statistics.median(values), 2)
            out[f"{key}_range"] = [round(min(values), 2), round(max(values), 2)]
    return out


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def write(name: str, summary: dict[str, Any]) -> dict[str, Any]:
    """Write `bench/results/<date>-<name>.json` and return the summary."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{today()}-{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def save(name: str, runs: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """The usual shape: name, date, the benchmark's parameters, median (with ranges), runs."""
    summary = {"benchmark": name, "date": today(), **fields}
    return write(name, {**summary, "median": summarise(runs), "runs": runs})
