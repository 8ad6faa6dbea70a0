"""A worker applies its garbage-collector policy at start-up and reports its pauses."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"WAGERSTREAM_WORKER_GC_YOUNG": "1234"}


def test_worker_tunes_the_collector_and_serves_its_pauses(worker) -> None:
    records = [json.loads(line) for line in worker.log.read_text().splitlines()
               if line.startswith("{")]  # fmt: skip
    tuned = [r for r in records if "gc_young" in r]
    assert [r["gc_young"] for r in tuned] == [1234]
    assert tuned[0]["gc_frozen"] > 10_000  # the imported modules and the app, at least
    body = httpx.get(f"http://127.0.0.1:{worker.port}/metrics", timeout=30).text
    full = [line for line in body.splitlines()
            if line.startswith('wagerstream_gc_pause_seconds_count{generation="2"}')]  # fmt: skip
    assert len(full) == 1
    assert float(full[0].rsplit(" ", 1)[1]) >= 1  # start-up's own collection, at least
