"""Fixtures over the real local stack: Kafka, PostgreSQL and Redis started by `stack up`."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from foundation.settings import Settings, get_settings
from ledger.cdc import drop_slot
from loadgen.producer import EventProducer
from tooling import supervisor as procs
from tooling.supervisor import Child, MartsSinkProcess, Supervisor, free_port
from topics.admin import consumer_lag, create_topics, start_group_at_end
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


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    """Every process a test starts runs under this one test's supervisor: an unexpected exit
    fails that test, and whatever happens all its processes are stopped at its end (and die
    with pytest if it is killed)."""
    with Supervisor().running() as sup:
        yield sup


HOG_MAX_S = 1200  # a hog never outlives this, whatever happens to the test


@pytest.fixture(params=["idle", "busy"])
def machine(
    request: pytest.FixtureRequest, supervisor: Supervisor, tmp_path: Path
) -> Iterator[str]:
    """Run the test twice: on an otherwise idle machine, and with a CPU hog beside it (a busy
    loop eating one of the cores, bounded in time), as on a shared CI machine."""
    hog = None
    if request.param == "busy":
        code = (  # it dies with pytest, even a killed one (PDEATHSIG, as every child)
            "from tooling.supervisor import die_with_parent\ndie_with_parent()\nimport time\n"
            f"end = time.monotonic() + {HOG_MAX_S}\nwhile time.monotonic() < end: pass"
        )
        hog = Child(f"cpu-hog-{uuid.uuid4().hex[:6]}", ["-c", code], tmp_path / "hog.log",
                    program=[sys.executable])  # fmt: skip
        supervisor.start(hog, timeout=None)
    yield request.param
    if hog is not None:
        hog.stop()


# What Kubernetes puts in every pod of a namespace with Services called kafka, postgres, redis,
# web and marts: the test fleet runs with them, so a name collision would fail every test.
SERVICE_LINKS = {
    "KAFKA_PORT": "tcp://10.0.0.2:9092",
    "POSTGRES_PORT": "tcp://10.0.0.3:5432",
    "REDIS_PORT": "tcp://10.0.0.1:6379",
    "WEB_PORT": "tcp://10.0.0.4:80",
    "MARTS_PORT": "tcp://10.0.0.5:6068",
    "REDIS_SERVICE_HOST": "10.0.0.1",
    "REDIS_PORT_6379_TCP": "tcp://10.0.0.1:6379",
}


def in_kubernetes(s: Settings) -> dict[str, str]:
    """A child's connections named explicitly (as a pod's manifest does), and the service
    links beside them."""
    return {
        "WAGERSTREAM_KAFKA_BOOTSTRAP_SERVERS": s.kafka,
        "WAGERSTREAM_POSTGRES_DSN": s.postgres,
        "WAGERSTREAM_CDC_POSTGRES_DSN": s.cdc_postgres,
        "WAGERSTREAM_REDIS_URL": s.redis,
        **SERVICE_LINKS,
    }


@dataclass
class WorkerHandle:
    """A worker subprocess with its own consumer group, state dir and web port."""

    supervisor: Supervisor
    app_id: str
    state_dir: Path
    log: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    child: Child | None = None

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return None if self.child is None else self.child.proc

    def env(self) -> dict[str, str]:
        return {
            **in_kubernetes(get_settings()),
            "WAGERSTREAM_APP_ID": self.app_id,
            "WAGERSTREAM_STATE_DIR": str(self.state_dir),
            "WAGERSTREAM_LOG_LEVEL": "INFO",
            **self.extra_env,
        }

    def start(self) -> None:
        if self.child is None:  # a new group: what earlier tests left on the topics is not ours
            settings = get_settings()
            start_group_at_end(settings.kafka, self.app_id, CONSUMED_TOPICS,
                               settings.topic_partitions)  # fmt: skip
        child = procs.worker(f"worker-{self.app_id}", self.log, self.port, self.env())
        self.child = self.supervisor.start(child, timeout=180)

    def wait_caught_up(self, timeout: float = 600) -> None:
        """Block until the group has committed everything on the topics it consumes (the
        group starts at the end of the topics as they were when the worker first started)."""
        settings = get_settings()

        def lag() -> int:
            return consumer_lag(settings.kafka, self.app_id, CONSUMED_TOPICS,
                                settings.topic_partitions)  # fmt: skip

        self.supervisor.wait(lambda: lag() == 0, f"worker {self.app_id} caught up", timeout,
                             progress=lambda: f"{lag()} events behind")  # fmt: skip

    def kill9(self) -> None:
        assert self.child is not None
        self.child.kill()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Extra environment of the `worker` fixture's process; override in a test module."""
    return {}


@pytest.fixture
def worker(
    stack: Settings, tmp_path: Path, worker_env: dict[str, str], supervisor: Supervisor
) -> Iterator[WorkerHandle]:
    handle = WorkerHandle(
        supervisor=supervisor,
        app_id=f"wstest-{uuid.uuid4().hex[:8]}",
        state_dir=tmp_path / "state",
        log=tmp_path / "worker.log",
        extra_env=worker_env,
    )
    handle.start()
    handle.wait_caught_up()
    yield handle
    handle.stop()


@pytest.fixture
def sink(stack: Settings, tmp_path: Path, supervisor: Supervisor) -> Iterator[MartsSinkProcess]:
    """A ClickHouse sink on its own embedded engine and a new consumer group."""
    handle = MartsSinkProcess(tmp_path, f"wsmarts-{uuid.uuid4().hex[:8]}", supervisor)
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

    supervisor: Supervisor
    slot: str
    log: Path
    port: int = field(default_factory=free_port)
    child: Child | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return None if self.child is None else self.child.proc

    def start(self, timeout: float = 120) -> None:
        child = procs.relay(
            f"relay-{self.slot}",
            self.log,
            self.port,
            {**in_kubernetes(get_settings()), "WAGERSTREAM_CDC_SLOT": self.slot, **self.extra_env},
        )
        self.child = self.supervisor.start(child, timeout)

    def kill9(self) -> None:
        assert self.child is not None
        self.child.kill()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(15)


@pytest.fixture
def relay(ledger_dsn: str, tmp_path: Path, supervisor: Supervisor) -> Iterator[RelayHandle]:
    handle = RelayHandle(supervisor, slot=f"test_{uuid.uuid4().hex[:10]}", log=tmp_path / "cdc.log")
    yield handle
    handle.stop()
    drop_slot(ledger_dsn, handle.slot)
