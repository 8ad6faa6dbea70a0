"""A worker started with WAGERSTREAM_WORKER_TRACEMALLOC_FRAMES serves its largest allocation
sites."""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"WAGERSTREAM_WORKER_TRACEMALLOC_FRAMES": "5"}


def test_memory_page_lists_allocation_sites_with_their_tracebacks(worker) -> None:
    reply = httpx.get(f"http://127.0.0.1:{worker.port}/memory", timeout=30)
    assert reply.status_code == 200, reply.text
    lines = reply.text.splitlines()
    sites = [line for line in lines if re.match(r"^ *\d+\.\d MB +\d+ blocks$", line)]
    assert 1 <= len(sites) <= 30
    assert any(re.search(r'File ".+\.py", line \d+', line) for line in lines)
