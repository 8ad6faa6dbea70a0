"""`wagerstream worker` hands Faust's CLI a level it accepts: WAGERSTREAM_LOG_LEVEL uses
Python's names, and Faust's `-l` refuses "warning" (the benchmarks, which run workers at
WARNING, stopped on it)."""

from __future__ import annotations

import pytest

from wagerstream.cli.worker import faust_argv


@pytest.mark.parametrize(
    ("setting", "faust"),
    [("WARNING", "warn"), ("warning", "warn"), ("CRITICAL", "crit"), ("INFO", "info"),
     ("DEBUG", "debug"), ("ERROR", "error")],
)  # fmt: skip
def test_python_level_names_become_fausts(setting: str, faust: str) -> None:
    argv = faust_argv(setting, 6066, "127.0.0.1", "asyncio")
    assert argv[argv.index("worker") :][:3] == ["worker", "-l", faust]
