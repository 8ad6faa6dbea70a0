"""A short demo run: the whole fleet, a simulated operator, the report, and every labelled
risk pattern found with precision and recall of at least 0.95."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from rich.console import Console

from foundation.settings import Settings
from ledger.cdc import drop_slot
from loadgen.operator import JURISDICTIONS, PATTERNS
from tests.browser import render
from tooling import report
from tooling.demo import DemoOptions, run_demo, stop_fleet
from tooling.supervisor import free_port

pytestmark = pytest.mark.integration


RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def assert_operable_log(path: Path) -> None:
    """Every line of a worker's log a JSON object with an RFC 3339 UTC `ts` (no banner, no
    raw librdkafka or rich lines), and normal traffic logs no producer-buffer warning."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert lines, f"{path} is empty"
    raw = [line for line in lines if not line.startswith("{")]
    assert raw == [], f"{len(raw)} lines of {path} are not JSON, first: {raw[:3]}"
    records = [json.loads(line) for line in lines]
    assert [r["ts"] for r in records if not RFC3339_UTC.match(r["ts"])] == []
    full = [r for r in records if "producer buffer full" in r["message"]]
    assert full == [], f"{len(full)} producer-buffer warnings, first: {full[:1]}"


def test_short_demo_writes_the_report_and_finds_every_pattern(
    stack: Settings, tmp_path: Path, machine: str
) -> None:
    run = uuid.uuid4().hex[:8]
    settings = stack.model_copy(
        update={
            "app_id": f"wsdemo-{run}",
            "worker_web_port": free_port(),
            "marts_port": free_port(),
            "cdc_metrics_port": free_port(),
            "cdc_slot": f"test_demo_{run}",
            "clickhouse_url": f"chdb://{tmp_path / 'clickhouse'}",
            "state_dir": tmp_path / "state",
        }
    )
    opts = DemoOptions(
        players=150,
        per_pattern=3,
        hours=4,
        rate=1500,
        seed=11,
        tenant=f"demo-{run}",
        workers=1,
        report_dir=tmp_path / "report",
        keep_running=False,  # the fleet dies with pytest, even a killed one
    )
    try:
        result = run_demo(settings, opts, Console(width=120))
    finally:
        stop_fleet(settings)
        drop_slot(settings.postgres, settings.cdc_slot)
    assert_operable_log(settings.stack_dir / "logs" / "demo-worker0.log")
    scores = {s.code: s for s in result["scores"]}
    assert sorted(scores) == sorted(PATTERNS)
    for code, s in scores.items():
        assert s.labelled == (9 if code == "shared_instrument" else 3), code
        assert s.precision >= 0.95 and s.recall >= 0.95, (code, s)
    assert result["refused"] == []
    # one normal player in eight (19 of 150) got a bonus, each converted or forfeited at logout
    bonuses = result["bonuses"]
    assert sum(bonuses.values()) == 19 and set(bonuses) <= {"converted", "forfeited"}
    page = result["report"].read_text()
    assert page.count("<img src='data:image/png;base64,") == 4  # one file, charts inlined
    assert {k["reporting_currency"] for k in result["kpis"]} == {"EUR"}
    assert {k["jurisdiction"] for k in result["kpis"]} == set(JURISDICTIONS)
    # the report as a reader sees it: every section, every chart loaded, nothing cut off
    seen = render(result["report"], screenshot=tmp_path / "report.png")
    assert seen.sections == list(report.SECTIONS)
    assert len(seen.images) == 4 and all(width > 0 for _, width, _ in seen.images)
    assert seen.overflowing == [] and seen.page_width <= seen.width
