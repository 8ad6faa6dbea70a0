"""ledger → CDC relay → ledger.cdc → projection agent → Redis wallets, checked by reconcile."""

from __future__ import annotations

import time
import uuid

import pytest
from typer.testing import CliRunner

from sinks.read_models import model_key
from tests.integration.test_cdc import post_traffic
from tooling.reconcile import reconcile

pytestmark = pytest.mark.integration


def wait_reconciled(stack, tenant, timeout=180.0):
    deadline = time.monotonic() + timeout
    checked, diffs = reconcile(stack.postgres, stack.redis, stack.redis_prefix, tenant)
    while diffs and time.monotonic() < deadline:
        time.sleep(1)
        checked, diffs = reconcile(stack.postgres, stack.redis, stack.redis_prefix, tenant)
    return checked, diffs


def test_wallets_equal_ledger_after_kill9_mid_stream(
    ledger_dsn, relay, worker, stack, redis_client
):
    relay.start()
    tenant = f"wal{uuid.uuid4().hex[:8]}"
    post_traffic(ledger_dsn, tenant, transfers=1_500, threads=2, players=30)
    checked, diffs = wait_reconciled(stack, tenant)
    assert (checked, diffs) == (30, [])

    # more traffic, and the worker dies with -9 while it is being projected
    post_traffic(ledger_dsn, tenant, transfers=3_000, threads=2, players=30, batch="b")
    time.sleep(0.5)
    worker.kill9()
    worker.start()
    checked, diffs = wait_reconciled(stack, tenant)
    assert (checked, diffs) == (30, [])

    # a projection nobody should have touched is reported, and the CLI exits 1
    key = model_key(stack.redis_prefix, tenant, "wallet", f"{tenant}-p0")
    redis_client.hset(key, "cash_minor", "-1")
    from wagerstream.cli.main import cli

    result = CliRunner().invoke(cli, ["reconcile", "--tenant", tenant])
    assert result.exit_code == 1
    assert f"{tenant}-p0" in result.output and "cash_minor" in result.output
    assert "1 difference(s) over 30 players" in result.output
