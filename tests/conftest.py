"""Fixtures over the real local stack: Kafka, PostgreSQL and Redis started by `stack up`."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from foundation.settings import Settings, get_settings
from loadgen.producer import EventProducer
from tooling.supervisor import (
    consumer_lag,
    free_port,
    start_worker,
    stop_worker,
    wait_healthy,
)
from topics.admin import create_topics
from topics.catalogue import CONSUMED_TOPICS
from topics.serde import AvroSerde


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Settings:
    """The session's stack (idempotent: `make test` has usually started it already)."""
    from tooling.stack.manager import Stack

    Stack(settings).up()
    create_topics(settings.kafka, settings.topic_partitions, settings.topic_replication)
    return settings


@pytest.fixture(scope="session")
def serde() -> AvroSerde:
    return AvroSerde()


@pytest.fixture
def producer(stack: Settings, serde: AvroSerde) -> EventProducer:
    return EventProducer(stack.kafka, serde)


@pytest.fixture(scope="session")
def redis_client(stack: Settings) -> redis.Redis:
    return redis.Redis.from_url(stack.redis, decode_responses=True)


@dataclass
class WorkerHandle:
    """A worker subprocess with its own consumer group, state dir and web port."""

    app_id: str
    state_dir: Path
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            "APP_ID": self.app_id,
            "STATE_DIR": str(self.state_dir),
            "WORKER_WEB_PORT": str(self.port),
            "LOG_LEVEL": "INFO",
            **self.extra_env,
        }

    def start(self) -> None:
        self.proc = start_worker(self.log, self.env())
        try:
            wait_healthy(self.port, self.proc, timeout=180)
        except Exception:
            print(self.log.read_text()[-5000:])
            raise

    def wait_caught_up(self, timeout: float = 600) -> None:
        """Block until the group has committed everything on the topics it consumes.

        A new consumer group starts from the earliest offset, so on a machine that has run
        the tests before, a fresh worker first replays older tests' traffic."""
        import time

        settings = get_settings()
        deadline = time.monotonic() + timeout
        lag = -1
        while time.monotonic() < deadline:
            lag = consumer_lag(settings.kafka, self.app_id, CONSUMED_TOPICS,
                               settings.topic_partitions)  # fmt: skip
            if lag == 0:
                return
            time.sleep(1)
        raise TimeoutError(f"worker {self.app_id} still {lag} events behind")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            stop_worker(self.proc)


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Extra environment of the `worker` fixture's process; override in a test module."""
    return {}


@pytest.fixture
def worker(stack: Settings, tmp_path: Path, worker_env: dict[str, str]) -> Iterator[WorkerHandle]:
    handle = WorkerHandle(
        app_id=f"wstest-{uuid.uuid4().hex[:8]}",
        state_dir=tmp_path / "state",
        log=tmp_path / "worker.log",
        extra_env=worker_env,
    )
    handle.start()
    handle.wait_caught_up()
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def ledger_dsn(stack: Settings) -> str:
    from ledger.migrate import migrate

    migrate(stack.postgres)
    return stack.postgres


@dataclass
class RelayHandle:
    """A `wagerstream cdc` subprocess on its own replication slot."""

    slot: str
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> None:
        import sys
        import time

        self.log.parent.mkdir(parents=True, exist_ok=True)
        before = self.log.read_text() if self.log.exists() else ""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wagerstream", "cdc"],
                env={**os.environ, "CDC_SLOT": self.slot, "CDC_METRICS_PORT": str(self.port)},
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log.read_text()[len(before) :].count("streaming slot"):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"relay exited: {self.log.read_text()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError("relay did not start streaming")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()


@pytest.fixture
def relay(ledger_dsn: str, tmp_path: Path) -> Iterator[RelayHandle]:
    import psycopg

    handle = RelayHandle(slot=f"test_{uuid.uuid4().hex[:10]}", log=tmp_path / "cdc.log")
    yield handle
    handle.stop()
    with psycopg.connect(ledger_dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE slot_name = %s",
            (handle.slot,),
        )
        conn.execute("DELETE FROM cdc.relay_state WHERE slot = %s", (handle.slot,))
