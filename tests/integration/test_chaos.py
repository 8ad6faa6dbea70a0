"""A shortened `wagerstream chaos`: every kind of fault once, under load and with a CPU hog
beside it, then reconciliation."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psycopg
import pytest

from foundation.settings import Settings
from tooling.chaos import FAULTS

pytestmark = pytest.mark.integration


# Only with the CPU hog: it is the harder run of the same assertions, and an idle one as well
# would add about 7 minutes to the suite (`wagerstream chaos` itself is the long idle run).
@pytest.mark.parametrize("machine", ["busy"], indirect=True)
@pytest.mark.timeout(1500)
def test_every_fault_recovers_and_nothing_is_lost_or_counted_twice(
    stack: Settings, machine: str
) -> None:
    args = ["chaos", "--rounds", "1", "--outage", "5", "--pause", "2", "--players", "60",
            "--per-pattern", "1", "--workers", "2", "--minutes", "0", "--no-save"]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "wagerstream", *args],
        env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True, timeout=1400,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-4000:]
    assert f"faults injected: {len(FAULTS)};" in out
    for fault in FAULTS:
        assert re.search(rf"round 1 +{fault}: recovered in +[\d.]+ s", out), fault
    differences = re.findall(r"│ ([a-zA-Z/ ]+?) +│ +(\d+) +│", out)
    assert len(differences) == 9 and all(n == "0" for _, n in differences), differences

    tenants = re.search(r"tenants: (\S+), (\S+)", out)
    assert tenants is not None
    with psycopg.connect(stack.postgres) as conn:
        entries, players = conn.execute(
            "SELECT count(*), count(DISTINCT (tenant_id, player_id)) FROM ledger.entries"
            " WHERE tenant_id IN (%s, %s)",
            tenants.groups(),
        ).fetchone()
    checked = re.search(r"checked: (\d+) ledger entries, (\d+) wallets, (\d+) signals", out)
    assert checked is not None
    assert int(checked.group(1)) == entries > 0
    assert int(checked.group(2)) >= players > 0  # wallets: every player account, used or not
    assert int(checked.group(3)) > 0
