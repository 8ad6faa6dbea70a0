"""A worker that is behind survives rebalances: a second worker joins and leaves, and a topic
it subscribes to appears under a short metadata refresh. Its timers run right through them
(gauges every 0.5 s, when partitions are not fetched yet and have no high-water mark), and the
read models come out exact."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from loadgen.bets import generate
from tests.integration.test_settlement_slice import expected_open, send, wait_for
from tooling import supervisor as procs
from topics.admin import consumer_lag
from topics.catalogue import CONSUMED_TOPICS

pytestmark = pytest.mark.integration


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"WAGERSTREAM_KAFKA_METADATA_MAX_AGE_MS": "2000",
            "WAGERSTREAM_WORKER_GAUGE_INTERVAL_S": "0.5",
            "WAGERSTREAM_SESSION_TIMEOUT_S": "6"}  # fmt: skip


def metric(port: int, name: str) -> float:
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith(name) and not line.startswith("#"))  # fmt: skip


def test_a_lagging_worker_stays_up_through_joins_leaves_and_new_topics(
    worker, producer, redis_client, stack, supervisor, tmp_path
):
    tenant = f"rb{uuid.uuid4().hex[:8]}"
    traffic = generate(tenant, bets=15000, players=200, seed=21)
    players = sorted({r["player_id"] for _, r in traffic.events})
    send(producer, traffic.events)
    lag = consumer_lag(stack.kafka, worker.app_id, CONSUMED_TOPICS, stack.topic_partitions)
    assert lag > 20000, "the worker must be behind when the group rebalances"

    # a second worker joins the group while the first is behind, then leaves
    env = {**worker.env(), "WAGERSTREAM_STATE_DIR": str(tmp_path / "second-state")}
    second = procs.worker(
        f"second-{worker.app_id}", tmp_path / "second.log", procs.free_port(), env
    )
    supervisor.start(second, timeout=180)
    time.sleep(3)
    second.stop()
    # a topic the workers subscribe to appears: Faust's leader topic, created by the leader;
    # with a 2 s metadata refresh the group sees it and rebalances while still behind
    time.sleep(5)

    assert wait_for(redis_client, stack, tenant, expected_open(traffic.events), players) == (
        expected_open(traffic.events)
    )
    worker.wait_caught_up()
    time.sleep(2)  # gauges after the last rebalance
    assert worker.child is not None and worker.child.running, worker.child.tail()
    supervisor.check()
    assert metric(worker.port, "wagerstream_background_failures_total") == 0
    assert "Crashed" not in worker.log.read_text()
    # the first assignment, the second worker joining, and leaving
    rebalances = worker.log.read_text().count("Setting newly assigned partitions")
    assert rebalances >= 3, f"the test must have rebalanced the worker ({rebalances})"
