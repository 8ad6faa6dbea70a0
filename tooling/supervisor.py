"""Start, probe and stop worker processes: used by the demo, the benchmarks and the tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from foundation.kafka import security_config


def start_worker(log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "wagerstream", "worker"],
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def wait_http(
    url: str, proc: subprocess.Popen[bytes] | None, what: str, timeout: float = 120
) -> None:
    """Block until `url` answers 200; fail early when `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before it was up")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{what} did not answer {url} within {timeout:.0f}s")


def wait_healthy(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 120
) -> None:
    """Block until the worker's /health says ok (partitions assigned, not rebalancing)."""
    wait_http(f"http://127.0.0.1:{port}/health", proc, f"worker on port {port}", timeout)


def query_sink(port: int, sql: str) -> list[dict[str, Any]]:
    """Rows of `sql` as dicts, through a running `marts sink`'s /query."""
    reply = httpx.post(f"http://127.0.0.1:{port}/query", content=sql, timeout=120)
    body = reply.json()
    if reply.status_code != 200:
        raise RuntimeError(body.get("error", reply.text))
    return [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]


def stop_worker(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def consumer_lag(bootstrap: str, group: str, topics: tuple[str, ...], partitions: int) -> int:
    """Events on `topics` the group has not committed yet (from the earliest offset if none)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**security_config(), "bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        lag = 0
        for tp in consumer.committed(tps, timeout=10):
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            lag += high - (tp.offset if tp.offset >= 0 else low)
        return lag
    finally:
        consumer.close()


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MartsSinkProcess:
    """A `wagerstream marts sink` subprocess on its own embedded engine, consumer group and
    port (tests and benchmarks; one process per engine directory)."""

    def __init__(self, workdir: Path, app_id: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.group = f"{app_id}-marts"
        self.env = {**os.environ, "APP_ID": app_id, "MARTS_PORT": str(self.port),
                    "CLICKHOUSE_URL": f"chdb://{workdir / 'clickhouse'}"}  # fmt: skip
        self.log = workdir / "sink.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wagerstream", "marts", "sink"], env=self.env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            wait_http(f"http://127.0.0.1:{self.port}/health", self.proc, "marts sink")
        except RuntimeError:
            raise RuntimeError(f"marts sink exited: {self.log.read_text()[-3000:]}") from None

    def query(self, sql: str) -> list[dict[str, Any]]:
        return query_sink(self.port, sql)

    def stop(self) -> None:
        stop_worker(self.proc)
