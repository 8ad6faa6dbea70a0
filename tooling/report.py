"""The demo's report: precision and recall of signals against the generator's labels, and
`report/index.html` with plots (matplotlib, rendered to PNG files next to it)."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt


@dataclass(frozen=True)
class Score:
    code: str
    labelled: int
    signalled: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.signalled if self.signalled else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.labelled if self.labelled else 1.0


def score(
    labels: Iterable[tuple[str, str]], signals: Iterable[tuple[str, str]], codes: Iterable[str]
) -> list[Score]:
    """Per code, (player, code) pairs: a player signalled for a code it was labelled with is a
    true positive, whatever the number of signals."""
    want = set(labels)
    got = set(signals)
    out = []
    for code in codes:
        labelled = {p for p, c in want if c == code}
        signalled = {p for p, c in got if c == code}
        out.append(Score(code, len(labelled), len(signalled), len(labelled & signalled)))
    return out


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def _paired_bars(
    ticks: list[str], left: tuple[str, list[float]], right: tuple[str, list[float]]
) -> tuple[Any, Any]:
    fig, ax = plt.subplots(figsize=(8, 3))
    xs = range(len(ticks))
    ax.bar([x - 0.2 for x in xs], left[1], 0.4, label=left[0])
    ax.bar([x + 0.2 for x in xs], right[1], 0.4, label=right[0])
    ax.set_xticks(list(xs), ticks, rotation=20)
    ax.legend(loc="lower right")
    return fig, ax


def write(directory: Path, data: dict[str, Any]) -> Path:
    """`data`: throughput [(s, events/s)], sent [(s, actions/s)], kickoff_s, settle_lags_ms
    {product: [ms]}, brands [{brand, ggr, ngr, currency}], scores [Score], freshness_ms [ms],
    summary {name: value}."""
    directory.mkdir(parents=True, exist_ok=True)
    images = []

    fig, ax = plt.subplots(figsize=(8, 3))
    if data["throughput"]:
        xs, ys = zip(*data["throughput"], strict=True)
        ax.plot(xs, ys, label="worker events/s")
    if data.get("sent"):
        xs, ys = zip(*data["sent"], strict=True)
        ax.plot(xs, ys, label="generator actions/s", alpha=0.6)
    if data.get("kickoff_s") is not None:
        ax.axvline(data["kickoff_s"], color="grey", linestyle="--", label="final's kick-off")
    ax.set_xlabel("seconds since traffic started")
    ax.set_ylabel("per second")
    ax.set_title("Generator actions/s and worker events/s")
    ax.legend()
    images.append(("Throughput over time", _save(fig, directory / "throughput.png")))

    fig, ax = plt.subplots(figsize=(8, 3))
    for product, lags in sorted(data["settle_lags_ms"].items()):
        if lags:
            ax.hist([v / 60000 for v in lags], bins=40, alpha=0.6, label=product)
    ax.set_xlabel("settle lag (minutes, event time)")
    ax.set_ylabel("bets")
    ax.set_yscale("log")
    ax.legend()
    images.append(("Settle-lag distribution", _save(fig, directory / "settle_lag.png")))

    brands = data["brands"]
    fig, ax = _paired_bars(
        [f"{b['brand']}\n({b['currency']})" for b in brands],
        ("GGR", [b["ggr"] / 100 for b in brands]),
        ("NGR", [b["ngr"] / 100 for b in brands]),
    )
    ax.set_ylabel("major units")
    images.append(("GGR and NGR per brand", _save(fig, directory / "ggr_ngr.png")))

    scores = data["scores"]
    fig, ax = _paired_bars(
        [s.code for s in scores],
        ("precision", [s.precision for s in scores]),
        ("recall", [s.recall for s in scores]),
    )
    ax.set_ylim(0, 1.05)
    images.append(("Signals against the labels", _save(fig, directory / "signals.png")))

    fig, ax = plt.subplots(figsize=(8, 3))
    if data["freshness_ms"]:
        ax.hist([v / 1000 for v in data["freshness_ms"]], bins=50)
    ax.set_xlabel("ledger commit → visible in kpi_daily (s)")
    ax.set_ylabel("entries")
    images.append(("Freshness", _save(fig, directory / "freshness.png")))

    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in data["summary"].items()
    )
    score_rows = "".join(
        f"<tr><td>{s.code}</td><td>{s.labelled}</td><td>{s.signalled}</td>"
        f"<td>{s.true_positives}</td><td>{s.precision:.3f}</td><td>{s.recall:.3f}</td></tr>"
        for s in scores
    )
    figures = "".join(f"<h2>{t}</h2><img src='{f}' alt='{t}'>" for t, f in images)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>wagerstream demo</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
td,th{{border:1px solid #ccc;padding:.2em .6em}}table{{border-collapse:collapse}}</style>
</head><body><h1>wagerstream demo report</h1>
<table>{rows}</table>
<h2>Signals per code against the generator's labels</h2>
<table><tr><th>code</th><th>labelled</th><th>signalled</th><th>true positives</th>
<th>precision</th><th>recall</th></tr>{score_rows}</table>
{figures}</body></html>"""
    index = directory / "index.html"
    index.write_text(page)
    return index
