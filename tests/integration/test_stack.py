"""`stack up` from nothing, again with no change, and `down` leaves no process of ours behind."""

from __future__ import annotations

import os
import shutil
import uuid

import psycopg
import pytest
import redis
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner

from foundation.settings import PROJECT_ROOT, Settings
from tooling.stack.manager import Stack, _pid_alive
from tooling.supervisor import free_port

pytestmark = pytest.mark.integration


def our_processes(marker: str) -> list[int]:
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


def test_stack_up_idempotent_and_down_clean() -> None:
    # Under the project (not /tmp/pytest-of-root, which the postgres user cannot enter).
    home = PROJECT_ROOT / ".stack" / f"test-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        stack_dir=home,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        postgres_port=free_port(),
        redis_port=free_port(),
    )
    stack = Stack(settings)
    try:
        assert stack.up() == {"postgres": True, "redis": True, "kafka": True}
        pids = {s.name: s.pid for s in stack.status()}
        assert all(s.running for s in stack.status())

        # every service answers, with the configuration we asked for
        with psycopg.connect(settings.postgres) as conn:
            assert conn.execute("show wal_level").fetchone() == ("logical",)
        assert redis.Redis(port=settings.redis_port).ping()
        metadata = AdminClient({"bootstrap.servers": settings.kafka}).list_topics(timeout=10)
        assert list(metadata.brokers) == [1]

        # a second up changes nothing
        assert stack.up() == {"postgres": False, "redis": False, "kafka": False}
        assert {s.name: s.pid for s in stack.status()} == pids

        assert stack.down() == {"kafka": True, "redis": True, "postgres": True}
        assert not any(s.running for s in stack.status())
        assert our_processes(str(home)) == []
        for pid in pids.values():
            assert not _pid_alive(pid)
        assert stack.down() == {"kafka": False, "redis": False, "postgres": False}
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


def test_port_taken_by_a_stranger_is_a_clear_error() -> None:
    import socket

    from tooling.stack.manager import Redis, StackError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        home = PROJECT_ROOT / ".stack" / f"test-{uuid.uuid4().hex[:8]}"
        with pytest.raises(
            StackError, match=f"port {port} is already taken.*WAGERSTREAM_REDIS_PORT"
        ):
            Redis(Settings(stack_dir=home, redis_port=port)).up()
        shutil.rmtree(home, ignore_errors=True)


def test_cli_status_and_schemas_check_on_this_repo(stack) -> None:
    from wagerstream.cli.main import cli

    result = CliRunner().invoke(cli, ["stack", "status"])
    assert result.exit_code == 0, result.output
    assert "running" in result.output
    result = CliRunner().invoke(cli, ["schemas", "check"])
    assert result.exit_code == 0, result.output
    assert "12 schema(s) backward compatible with HEAD" in result.output  # 11 + bonus_wagering
