"""`wagerstream dlq` on the real broker: list and show dead letters, replay one once what
refused it is fixed (here: the clock caught up with a bet dated ahead of it), and a second
replay changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from sinks.read_models import model_key
from tests.integration.test_dead_letters import bet
from topics.dlq import read, select, summarise

pytestmark = pytest.mark.integration
SKEW_MS = 1000  # the worker's and the CLI's allowed clock skew


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"WAGERSTREAM_MAX_CLOCK_SKEW_MS": str(SKEW_MS)}


def dlq(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WAGERSTREAM_MAX_CLOCK_SKEW_MS": str(SKEW_MS), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "wagerstream", "dlq", *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_list_show_and_replay_once_fixed(worker, producer, serde, redis_client, stack, supervisor):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    player = f"{tenant}-replay"
    ahead_ms = 25_000
    early = bet(player, tenant, stake_minor=300, occurred_at=int(time.time() * 1000) + ahead_ms)
    producer.send("bet.placed", bet(player, tenant, stake_minor=200))
    producer.send("bet.placed", early)  # dated 25 s ahead: future_timestamp
    producer.send_raw("bet.placed", player.encode(), b'{"stake_minor": 100}')  # bad_magic
    producer.flush()

    def ours() -> list:
        return select(read(stack.kafka, ["dlq.bet.placed"]), key=player)

    supervisor.wait(lambda: len(ours()) == 2, "both dead letters on dlq.bet.placed", 120)
    letters = {d.code: d for d in ours()}
    rows = [(r.topic, r.code, r.count) for r in summarise(letters.values())]
    assert rows == [("bet.placed", "bad_magic", 1), ("bet.placed", "future_timestamp", 1)]

    listed = dlq("list", "--topic", "bet.placed")
    assert listed.returncode == 0, listed.stderr
    assert "future_timestamp" in listed.stdout and "bad_magic" in listed.stdout

    late = letters["future_timestamp"]
    shown = dlq("show", "bet.placed", late.at)
    assert shown.returncode == 0, shown.stderr
    assert "reason: future_timestamp: occurred_at" in shown.stdout
    assert f"source: bet.placed[{late.header('source-partition')}]@" in shown.stdout
    assert "  000000  c3 01" in shown.stdout  # the single-object Avro bytes, as hex
    assert f'"bet_id": "{early["bet_id"]}"' in shown.stdout  # and decoded

    # not fixed yet: the bet is still ahead of the clock, so nothing is sent
    too_soon = dlq("replay", "--topic", "bet.placed", "--key", player, "--code", "future_timestamp")
    assert too_soon.returncode == 1
    assert "replayed 0, still failing 1" in too_soon.stdout
    bets = model_key(stack.redis_prefix, tenant, "bets", player)
    supervisor.wait(lambda: redis_client.hget(bets, "open_count") == "1", "the first bet", 60)

    wait_s = (early["occurred_at"] + SKEW_MS) / 1000 - time.time() + 1
    time.sleep(max(0.0, wait_s))  # now the clock has caught up: the fix
    for attempt in (1, 2):  # the second replay must change nothing
        done = dlq("replay", "--topic", "bet.placed", "--key", player)
        assert done.returncode == 0, (attempt, done.stdout, done.stderr)
        assert "replayed 1, still failing 1" in done.stdout  # bad_magic stays in the DLQ
        supervisor.wait(lambda: redis_client.hget(bets, "open_count") == "2",
                        "the replayed bet in the read model", 60)  # fmt: skip
        worker.wait_caught_up()
        assert redis_client.hmget(bets, "open_count", "open_stake_minor") == ["2", "500"]
    assert len(ours()) == 2  # nothing went back to the DLQ
