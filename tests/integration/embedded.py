"""The CLI on a test's own embedded ClickHouse engine, in a subprocess: the engine locks its
data directory to one process, and a process may open one chdb path only, so the tests never
open it in pytest's own process. No sink answers on port 1, so `query` opens the engine
itself rather than asking a sink that some other run left on the default port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def on_engine(
    data: Path, *args: str, code: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m wagerstream ARGS` (or `python -c CODE`) with the engine at `data`."""
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "wagerstream", *args]
    environ = {**os.environ, "WAGERSTREAM_CLICKHOUSE_URL": f"chdb://{data}",
               "WAGERSTREAM_MARTS_PORT": "1", "COLUMNS": "200", **(env or {})}  # fmt: skip
    return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=120)
