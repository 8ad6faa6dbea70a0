"""Faust's own CLI runs the same worker as `wagerstream worker`: agents autodiscovered,
changelogs created at worker init, the fleet's Worker class, the flags Faust documents."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import httpx
import pytest

from sinks.read_models import model_key
from tests.conftest import WorkerHandle
from tests.unit.rules_helpers import limit, utc
from tooling.supervisor import Child
from topics.admin import start_group_at_end
from topics.catalogue import CONSUMED_TOPICS

pytestmark = pytest.mark.integration


def test_faust_dash_a_worker_runs_every_agent(stack, producer, redis_client, supervisor, tmp_path):
    handle = WorkerHandle(supervisor, app_id=f"wsfaust-{uuid.uuid4().hex[:8]}",
                          state_dir=tmp_path / "state", log=tmp_path / "faust.log")  # fmt: skip
    start_group_at_end(stack.kafka, handle.app_id, CONSUMED_TOPICS, stack.topic_partitions)
    faust = Path(sys.executable).with_name("faust")
    child = Child(
        "faust-cli-worker",
        ["-A", "agents.app", "worker", "-l", "info", "--web-port", str(handle.port)],
        handle.log,
        env=handle.env(),
        health_url=f"http://127.0.0.1:{handle.port}/health",
        program=[str(faust)],
    )
    handle.child = supervisor.start(child, timeout=180)
    health = httpx.get(f"http://127.0.0.1:{handle.port}/health", timeout=10).json()
    # 12 partitions of each input topic the players agent reads, plus its tables' changelogs
    assert health["status"] == "ok" and health["assigned"] > 12

    tenant = f"cli{uuid.uuid4().hex[:8]}"
    _, event = limit(utc("2026-06-10T08:00"), "deposit", "day", 10000)
    producer.send("player.limit", {**event, "tenant_id": tenant, "player_id": "p1"})
    producer.flush()
    key = model_key(stack.redis_prefix, tenant, "limits", "p1")
    supervisor.wait(lambda: redis_client.hget(key, "deposit_day_limit") == "10000",
                    "the limit in Redis, from the autodiscovered players agent", 120)  # fmt: skip

    log = handle.log.read_text()
    assert "[^FleetWorker]: Starting..." in log  # the app's Worker setting, not Faust's default
    assert f"http://127.0.0.1:{handle.port}" in log  # --web-port reached the banner and web
    handle.stop()
