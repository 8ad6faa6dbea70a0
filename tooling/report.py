"""The demo's report: one self-contained HTML file (`report/index.html`, the charts inlined as
PNG data) an operator's analyst or compliance officer can open and forward.

What it holds, top to bottom: the goals with a pass/fail mark each (freshness of the marts,
produce → Redis latency), the KPIs per day, brand and jurisdiction in the reporting currency,
every signal code that fired (the generator's labelled patterns scored, the others counted),
signals per jurisdiction, the alerts raised with their evidence, and the charts. Rendering is
a pure function of `ReportData`, so a test renders it from numbers it chose.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

FRESHNESS_GOAL_MS = 5_000  # ledger commit → visible in kpi_daily, p99
LATENCY_GOAL_MS = 250  # produce → Redis read model, p99
ALERTS_SHOWN = 200  # alert rows in the page; the count says how many there were
SECTIONS = (
    "Goals",
    "KPIs per day, brand and jurisdiction",
    "Signal codes",
    "Signals per jurisdiction",
    "Alerts raised",
    "Charts",
)


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


@dataclass
class ReportData:
    """Everything the page shows. `kpis`: rows of `kpi_daily_reporting`; `signals`: rows of
    `signals FINAL` (topic, code, severity, jurisdiction, player_id, value_minor,
    threshold_minor, window, evidence, occurred_at); `latency_ms`: quantile → ms of produce →
    Redis; `minor_units`: digits per currency when not 2."""

    summary: dict[str, Any]
    kpis: list[dict[str, Any]]
    signals: list[dict[str, Any]]
    scores: list[Score]
    freshness_ms: list[int]
    latency_ms: dict[str, float]
    settle_lags_ms: dict[str, list[int]] = field(default_factory=dict)
    throughput: list[tuple[float, float]] = field(default_factory=list)
    sent: list[tuple[float, float]] = field(default_factory=list)
    kickoff_s: float | None = None
    minor_units: dict[str, int] = field(default_factory=dict)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(np.ceil(q * len(ordered))) - 1))]


def money(amount_minor: int, currency: str, minor_units: dict[str, int]) -> str:
    digits = minor_units.get(currency, 2)
    return f"{amount_minor / 10**digits:,.{digits}f}"


def _plain_log_axis(ax: Any) -> None:
    """A log x axis labelled 0.001, 1, 1000 rather than 10^-3 and 2x10^0."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _png(fig: Any) -> str:
    """The figure as an inline PNG (data URI): the page is one file."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric_from: int = 99) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='n'>{cell}</td>" if i >= numeric_from else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>"


def _count(value: int | None) -> str:
    """A nullable integer (a stuck bet has no value or threshold)."""
    return "—" if value is None else f"{value:,}"


def _evidence(ids: Sequence[str], shown: int = 2) -> str:
    """The first event ids the rule judged, and how many more (the mart has them all)."""
    more = f" (+{len(ids) - shown} more)" if len(ids) > shown else ""
    return _e(", ".join(ids[:shown])) + more


def _mark(ok: bool | None) -> str:
    if ok is None:
        return "<span class='na'>no data</span>"
    return "<span class='pass'>✔ pass</span>" if ok else "<span class='fail'>✘ fail</span>"


def goals(data: ReportData) -> list[tuple[str, str, str, bool | None]]:
    """(figure, measured, goal, passed) for each goal."""
    out: list[tuple[str, str, str, bool | None]] = []
    fresh = data.freshness_ms
    p50, p99 = percentile(fresh, 0.5), percentile(fresh, 0.99)
    out.append(
        (
            "freshness: ledger commit → kpi_daily, p99",
            f"{p99 / 1000:.2f} s (p50 {p50 / 1000:.2f} s, {len(fresh):,} entries)"
            if fresh
            else "—",
            f"≤ {FRESHNESS_GOAL_MS / 1000:.0f} s",
            (p99 <= FRESHNESS_GOAL_MS) if fresh else None,
        )
    )
    lat = data.latency_ms
    p99 = lat.get("p99", float("nan"))
    known = p99 == p99  # not NaN
    out.append(
        (
            "latency: produce → Redis read model, p99",
            f"{p99:.0f} ms (p50 {lat.get('p50', float('nan')):.0f} ms)" if known else "—",
            f"≤ {LATENCY_GOAL_MS} ms",
            (p99 <= LATENCY_GOAL_MS) if known else None,
        )
    )
    labelled = [s for s in data.scores if s.labelled]
    if labelled:
        worst = min(min(s.precision, s.recall) for s in labelled)
        out.append(
            (
                "labelled patterns: lowest precision or recall",
                f"{worst:.2f}",
                "≥ 0.95",
                worst >= 0.95,
            )
        )
    return out


def _charts(data: ReportData) -> list[tuple[str, str]]:
    charts = []
    fig, ax = plt.subplots(figsize=(9, 3.2))
    if data.throughput:
        xs, ys = zip(*data.throughput, strict=True)
        ax.plot(xs, ys, label="worker events/s")
    if data.sent:
        xs, ys = zip(*data.sent, strict=True)
        ax.plot(xs, ys, label="generator actions/s", alpha=0.6)
    if data.kickoff_s is not None:
        ax.axvline(data.kickoff_s, color="grey", linestyle="--", label="final's kick-off")
    ax.set_xlabel("seconds since traffic started")
    ax.set_ylabel("per second")
    ax.legend(loc="upper left", fontsize="small")
    charts.append(("Generator actions/s and worker events/s", _png(fig)))

    # settle lags span milliseconds (casino) to days (sportsbook): seconds on a log axis
    fig, ax = plt.subplots(figsize=(9, 3.2))
    lags = {p: [max(v, 1) / 1000 for v in vs] for p, vs in data.settle_lags_ms.items() if vs}
    if lags:
        low = min(min(v) for v in lags.values())
        high = max(max(v) for v in lags.values())
        bins = np.geomspace(low, max(high, low * 10), 40)
        for product, values in sorted(lags.items()):
            ax.hist(values, bins=bins, alpha=0.6, label=product)
        _plain_log_axis(ax)
        ax.legend(fontsize="small")
    ax.set_xlabel("settle lag (seconds, event time, log scale)")
    ax.set_ylabel("bets")
    charts.append(("Settle lag per product", _png(fig)))

    # one currency on the axis: the reporting currency; horizontal bars keep labels apart
    per: dict[str, list[int]] = {}
    currency = ""
    for row in data.kpis:
        key = f"{row['brand_id']} · {row['jurisdiction']}"
        sums = per.setdefault(key, [0, 0])
        sums[0] += row["ggr_minor"]
        sums[1] += row["ngr_minor"]
        currency = row["reporting_currency"]
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.45 * len(per) + 1)))
    names = sorted(per)
    ys = np.arange(len(names))
    scale = 10 ** data.minor_units.get(currency, 2)
    ax.barh(ys - 0.2, [per[n][0] / scale for n in names], 0.4, label="GGR")
    ax.barh(ys + 0.2, [per[n][1] / scale for n in names], 0.4, label="NGR")
    magnitudes = [abs(v) for n in names for v in per[n] if v]
    if magnitudes and max(magnitudes) > 100 * min(magnitudes):  # orders of magnitude apart
        ax.set_xscale("symlog", linthresh=max(1.0, min(magnitudes) / scale))
    ax.set_yticks(ys, names, fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel(f"{currency} (reporting currency)")
    ax.legend(loc="lower right", fontsize="small")
    charts.append((f"GGR and NGR per brand and jurisdiction, in {currency}", _png(fig)))

    fig, ax = plt.subplots(figsize=(9, 3.2))
    if data.freshness_ms:
        values = [max(v, 1) / 1000 for v in data.freshness_ms]
        ax.hist(values, bins=np.geomspace(min(values), max(max(values), min(values) * 10), 50))
        _plain_log_axis(ax)
        ax.axvline(FRESHNESS_GOAL_MS / 1000, color="red", linestyle="--", label="goal (p99)")
        ax.legend(fontsize="small")
    ax.set_xlabel("ledger commit → visible in kpi_daily (seconds, log scale)")
    ax.set_ylabel("entries")
    charts.append(("Freshness of the marts", _png(fig)))
    return charts


CSS = """
body{font-family:system-ui,sans-serif;max-width:78em;margin:1.5em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:.2em .5em}
th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.scroll{max-width:100%;overflow-x:auto}img{max-width:100%;height:auto;display:block}
.pass{color:#116611;font-weight:bold}.fail{color:#b00020;font-weight:bold}.na{color:#777}
td.evidence{max-width:24em;overflow-wrap:anywhere;font-size:.85em}p.note{color:#555}
"""


def render(data: ReportData) -> str:
    """The whole page."""
    mu = data.minor_units
    summary = _table(("figure", "value"), ((_e(k), _e(v)) for k, v in data.summary.items()))
    parts = [f"<h1>wagerstream demo report</h1>{summary}"]

    parts.append("<h2 id='goals'>Goals</h2>")
    parts.append(
        _table(
            ("goal", "measured", "target", "result"),
            ((_e(n), _e(m), _e(t), _mark(ok)) for n, m, t, ok in goals(data)),
        )
    )

    kpi_rows = sorted(data.kpis, key=lambda r: (str(r["day"]), r["brand_id"], r["jurisdiction"]))
    parts.append("<h2 id='kpis'>KPIs per day, brand and jurisdiction</h2>")
    parts.append(
        "<p class='note'>Day: the jurisdiction's local calendar day. Amounts in the "
        "reporting currency at the day's rate (<code>kpi_daily_reporting</code>).</p>"
    )
    currency = kpi_rows[0]["reporting_currency"] if kpi_rows else ""
    unconverted = any(r.get("unconverted_currencies") for r in kpi_rows)
    amounts = ("handle_minor", "ggr_minor", "ngr_minor", "deposits_minor", "withdrawals_minor")
    header = ["day", "brand", "jurisdiction"]
    header += [
        f"{name} ({currency})" for name in ("handle", "GGR", "NGR", "deposits", "withdrawals")
    ]
    header += ["FTD", "active", "bets"] + (["not converted"] if unconverted else [])
    rows = []
    for r in kpi_rows:
        row = [_e(r["day"]), _e(r["brand_id"]), _e(r["jurisdiction"])]
        row += [money(r[k], r["reporting_currency"], mu) for k in amounts]
        row += [r["ftd_count"], r["active_players"], r["bets_count"]]
        if unconverted:
            row.append(_e(", ".join(r.get("unconverted_currencies") or []) or "—"))
        rows.append(row)
    parts.append(_table(header, rows, numeric_from=3))

    fired = Counter((s["topic"], s["code"]) for s in data.signals)
    scored = {s.code: s for s in data.scores}
    parts.append("<h2 id='codes'>Signal codes</h2>")
    parts.append(
        "<p class='note'>Labelled codes are scored against the generator's ground "
        "truth (a player signalled for a pattern it was given); the others are counted."
        "</p>"
    )
    code_rows = []
    for (topic, code), count in sorted(fired.items()):
        s = scored.get(code)
        if s is None:
            code_rows.append((_e(topic), _e(code), count, "not labelled", "—", "—", "—"))
        else:
            code_rows.append(
                (
                    _e(topic),
                    _e(code),
                    count,
                    s.labelled,
                    s.true_positives,
                    f"{s.precision:.3f}",
                    f"{s.recall:.3f}",
                )
            )
    for code, s in sorted(scored.items()):
        if not any(c == code for _, c in fired):
            code_rows.append(
                ("—", _e(code), 0, s.labelled, 0, f"{s.precision:.3f}", f"{s.recall:.3f}")
            )
    parts.append(
        _table(
            (
                "topic",
                "code",
                "signals",
                "labelled players",
                "true positives",
                "precision",
                "recall",
            ),
            code_rows,
            numeric_from=2,
        )
    )

    jurisdictions = sorted({s["jurisdiction"] for s in data.signals})
    by = Counter((s["code"], s["jurisdiction"]) for s in data.signals)
    codes = sorted({s["code"] for s in data.signals})
    parts.append("<h2 id='jurisdictions'>Signals per jurisdiction</h2>")
    parts.append(
        _table(
            ("code", *jurisdictions, "all"),
            (
                (
                    _e(c),
                    *(by[(c, j)] for j in jurisdictions),
                    sum(by[(c, j)] for j in jurisdictions),
                )
                for c in codes
            ),
            numeric_from=1,
        )
    )

    alerts = sorted(data.signals, key=lambda s: (str(s["occurred_at"]), s["code"]))
    parts.append("<h2 id='alerts'>Alerts raised</h2>")
    parts.append(
        f"<p class='note'>{len(alerts):,} signals"
        + (f"; the first {ALERTS_SHOWN} shown" if len(alerts) > ALERTS_SHOWN else "")
        + ". Evidence: the event ids the rule judged.</p>"
    )
    rows = [
        (
            _e(s["occurred_at"]),
            _e(s["topic"]),
            _e(s["code"]),
            _e(s["severity"]),
            _e(s["jurisdiction"]),
            _e(s["player_id"]),
            _count(s["value_minor"]),
            _count(s["threshold_minor"]),
            _e(s["window"]),
            f"<span>{_evidence(s['evidence'])}</span>",
        )
        for s in alerts[:ALERTS_SHOWN]
    ]
    table = _table(
        (
            "occurred at",
            "topic",
            "code",
            "severity",
            "jurisdiction",
            "player",
            "value (minor)",
            "threshold (minor)",
            "window",
            "evidence",
        ),
        rows,
    )
    parts.append(table.replace("<td><span>", "<td class='evidence'><span>"))

    parts.append("<h2 id='charts'>Charts</h2>")
    for title, uri in _charts(data):
        parts.append(f"<h3>{_e(title)}</h3><img src='{uri}' alt='{_e(title)}'>")
    body = "\n".join(parts)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>wagerstream demo report</title><style>{CSS}</style></head><body>\n{body}\n"
        "</body></html>"
    )


def write(directory: Path, data: ReportData) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    index = directory / "index.html"
    index.write_text(render(data))
    return index
