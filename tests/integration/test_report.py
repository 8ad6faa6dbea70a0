"""The demo report from figures chosen here, checked as text and in headless Chromium: every
section, the goals marked pass or fail from the numbers, labelled codes scored and the others
counted, one self-contained file, and nothing wider than the window (at a laptop's width and
at a narrow one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import render
from tooling import report

pytestmark = pytest.mark.integration


def alert(code: str, jurisdiction: str, topic: str = "aml.alert", n: int = 0) -> dict:
    return {
        "topic": topic, "code": code, "severity": "high", "jurisdiction": jurisdiction,
        "player_id": f"player-{n}", "value_minor": 250000, "threshold_minor": 200000,
        "window": f"2026-06-10#{n}", "occurred_at": f"2026-06-10 10:{n:02d}:00.000",
        "evidence": [f"3f2b8c1e-9a4d-4e7f-8b6a-1c2d3e4f5a{n:02d}" for _ in range(12)],
    }  # fmt: skip


def kpi(day: str, brand: str, jurisdiction: str, ggr: int) -> dict:
    return {
        "day": day, "brand_id": brand, "jurisdiction": jurisdiction,
        "reporting_currency": "EUR", "handle_minor": 10 * ggr, "ggr_minor": ggr,
        "ngr_minor": ggr // 2, "deposits_minor": 3 * ggr, "withdrawals_minor": ggr,
        "ftd_count": 4, "active_players": 20, "bets_count": 300, "unconverted_currencies": [],
    }  # fmt: skip


def data(freshness_ms: list[int], latency_p99: float) -> report.ReportData:
    signals = [alert("aml_threshold", "MGA", n=i) for i in range(3)]
    signals += [alert("structuring", "UKGC", n=5), alert("rapid_in_out", "SE", n=6)]
    signals += [alert("night_play", "UKGC", topic="rg.signal", n=7)]  # not a labelled pattern
    stuck = alert("stuck_bet", "ON", topic="settlement.alert", n=8)
    signals += [{**stuck, "value_minor": None, "threshold_minor": None}]  # no amounts
    return report.ReportData(
        summary={"players": 150, "events sent": 12345},
        kpis=[
            kpi("2026-06-10", "brand-a", "UKGC", 123456789),
            kpi("2026-06-10", "brand-b", "SE", 98765),
            kpi("2026-06-11", "brand-a", "UKGC", 5555),
        ],
        signals=signals,
        scores=report.score(
            [("player-0", "aml_threshold"), ("player-5", "structuring"), ("p9", "rapid_in_out")],
            [(s["player_id"], s["code"]) for s in signals],
            ["aml_threshold", "structuring", "rapid_in_out", "shared_instrument"],
        ),
        freshness_ms=freshness_ms,
        latency_ms={"p50": 40.0, "p95": 90.0, "p99": latency_p99},
        settle_lags_ms={"casino": [0, 3, 40, 900], "sportsbook": [3_600_000, 86_400_000]},
        throughput=[(1.0, 100.0), (2.0, 900.0)],
        sent=[(1.0, 120.0), (2.0, 950.0)],
        kickoff_s=1.5,
    )  # fmt: skip


def test_the_report_as_text_marks_each_goal_and_scores_labelled_codes_only() -> None:
    fresh = list(range(100, 10_100, 100))  # 100 values: nearest-rank p99 = 9,900 ms
    page = report.render(data(fresh, latency_p99=180.0))
    goals = {name: ok for name, _, _, ok in report.goals(data(fresh, 180.0))}
    assert goals == {
        "freshness: ledger commit → kpi_daily, p99": False,  # 9.9 s > 5 s
        "latency: produce → Redis read model, p99": True,  # 180 ms ≤ 250 ms
        "labelled patterns: lowest precision or recall": False,  # rapid_in_out: p9 missed
    }
    assert "9.90 s (p50 5.00 s, 100 entries)" in page
    assert page.count("✘ fail") == 2 and page.count("✔ pass") == 1
    assert (
        "<td>rg.signal</td><td>night_play</td><td class='n'>1</td><td class='n'>not labelled"
        in page
    )
    # aml_threshold: 3 players signalled, 1 labelled and found: precision 1/3, recall 1
    assert (
        "<td class='n'>3</td><td class='n'>1</td><td class='n'>1</td>"
        "<td class='n'>0.333</td><td class='n'>1.000</td>" in page
    )
    assert (
        "<td>—</td><td>shared_instrument</td><td class='n'>0</td>" in page
    )  # labelled, none fired
    assert "1,234,567.89" in page  # brand-a's GGR, EUR with 2 decimals
    assert "src='data:image/png;base64," in page and "src='http" not in page
    assert "<td>stuck_bet</td><td>high</td><td>ON</td><td>player-8</td><td>—</td><td>—</td>" in page


@pytest.mark.parametrize("width", [1280, 700])
def test_the_report_in_chromium_has_every_section_and_nothing_overflows(
    tmp_path: Path, width: int
) -> None:
    index = report.write(tmp_path, data([800, 1200, 4000], latency_p99=320.0))
    shot = tmp_path / f"report-{width}.png"
    seen = render(index, screenshot=shot, width=width)
    assert seen.sections == list(report.SECTIONS)
    assert [(alt, loaded > 0, src) for alt, loaded, src in seen.images] == [
        ("Generator actions/s and worker events/s", True, "data:image/png;base64,"),
        ("Settle lag per product", True, "data:image/png;base64,"),
        ("GGR and NGR per brand and jurisdiction, in EUR", True, "data:image/png;base64,"),
        ("Freshness of the marts", True, "data:image/png;base64,"),
    ]
    assert seen.tables == 6  # summary, goals, KPIs, codes, per jurisdiction, alerts
    assert seen.overflowing == [] and seen.page_width <= seen.width
    if width >= 1280:  # a laptop's window shows every table whole
        assert seen.scrolled == []
    assert shot.stat().st_size > 20_000
