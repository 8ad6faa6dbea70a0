"""The one process supervisor: the demo, chaos, the benchmarks and the tests start every
`wagerstream` subprocess through it.

A child has its own log file (a fresh one per start, the previous kept as `.1`), a way to tell
it is ready (an HTTP health URL or a log line), and a watcher thread that notices its exit
within `POLL_S`. An exit nobody asked for is a failure of the whole run: every wait of the
supervisor raises `ChildExited` with the child's name, exit code and last log lines, instead of
waiting on a process that is gone. A child stopped on purpose (`stop`, `kill`) is not a failure.
Every child runs in its own session, so stopping it stops its whole process group, and
`stop_all` (also at interpreter exit) leaves nothing behind.
"""

from __future__ import annotations

import _thread
import atexit
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

POLL_S = 0.5
PROGRESS_EVERY_S = 10.0
PARENT_ENV = "WAGERSTREAM_DIE_WITH"  # pid whose death kills the child (Linux PDEATHSIG)
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child started by a supervisor: die when the supervising process dies, even by
    kill -9 (no atexit runs then), so a killed test or chaos run leaves no orphans."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(parent):  # it died before prctl took effect
        os._exit(1)


class ChildExited(RuntimeError):
    """A supervised process exited while the run still needed it."""

    def __init__(self, name: str, code: int | None, tail: str) -> None:
        self.name, self.code, self.tail = name, code, tail
        super().__init__(f"{name} exited with code {code}; last lines of its log:\n{tail}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wagerstream_command() -> list[str]:
    return [sys.executable, "-m", "wagerstream"]


@dataclass
class Child:
    """One `python -m wagerstream <args>` process (`program` replaces the command)."""

    name: str
    args: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    health_url: str | None = None
    ready_line: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    expected_down: bool = True
    die_with_parent: bool = True
    program: list[str] = field(default_factory=wagerstream_command)

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def start(self) -> Child:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if self.log.exists() and self.log.stat().st_size:
            self.log.replace(self.log.with_name(self.log.name + ".1"))
        env = {**os.environ, **self.env}
        if self.die_with_parent:
            env[PARENT_ENV] = str(os.getpid())
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*self.program, *self.args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.expected_down = False
        return self

    def tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)

    def failure(self) -> ChildExited | None:
        """The exit nobody asked for, if this child has had one."""
        if self.proc is None or self.expected_down or self.proc.poll() is None:
            return None
        return ChildExited(self.name, self.proc.returncode, self.tail())

    def is_ready(self) -> bool:
        if self.health_url is not None:
            try:
                return httpx.get(self.health_url, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        if self.ready_line is not None:
            return self.ready_line in self.log.read_text(errors="replace")
        return True

    def signal(self, sig: int) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def kill(self) -> None:
        """kill -9 the whole process group (a crash, for chaos and the tests)."""
        self.expected_down = True
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, then SIGKILL after `timeout`."""
        self.expected_down = True
        if not self.running:
            return
        self.signal(signal.SIGTERM)
        assert self.proc is not None
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


class Supervisor:
    """The children of one run, watched from one thread."""

    def __init__(
        self,
        on_exit: Callable[[ChildExited], None] | None = None,
        stop_at_exit: bool = True,
        interrupt_main: bool = False,
    ) -> None:
        """`interrupt_main`: an unexpected exit raises KeyboardInterrupt in the main thread at
        once (whatever it is doing); `check()` then names the child."""
        self.children: dict[str, Child] = {}
        self.on_exit = on_exit
        self.interrupt_main = interrupt_main
        self.stop_at_exit = stop_at_exit
        self._reported: set[int] = set()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._watcher.start()
        if stop_at_exit:
            atexit.register(self.stop_all)

    def _watch(self) -> None:
        while not self._stop.wait(POLL_S):
            for child in list(self.children.values()):
                failed = child.failure()
                if failed is not None and child.pid not in self._reported:
                    self._reported.add(child.pid)
                    print(f"supervisor: {failed}", file=sys.stderr, flush=True)
                    if self.on_exit is not None:
                        self.on_exit(failed)
                    if self.interrupt_main:
                        _thread.interrupt_main()

    def start(self, child: Child, timeout: float | None = 180) -> Child:
        """Start `child` (replacing a stopped one of that name); wait until it is ready unless
        `timeout` is None."""
        old = self.children.get(child.name)
        if old is not None and old.running:
            raise RuntimeError(f"{child.name} is already running (pid {old.pid})")
        child.die_with_parent = self.stop_at_exit
        self.children[child.name] = child.start()
        if timeout is not None:
            self.wait(child.is_ready, f"{child.name} ready", timeout)
        return child

    def check(self) -> None:
        """Raise for the first child that exited without being asked to."""
        for child in self.children.values():
            failed = child.failure()
            if failed is not None:
                raise failed

    def wait(
        self,
        done: Callable[[], bool],
        what: str,
        timeout: float,
        progress: Callable[[], str] | None = None,
        every: float = 1.0,
    ) -> None:
        """Poll `done` until it is true; fail at once if a child exits, loudly at the deadline.
        Prints a progress line at least every PROGRESS_EVERY_S (there may be no terminal)."""
        began = last = time.monotonic()
        while True:
            self.check()
            if done():
                return
            now = time.monotonic()
            if now - began > timeout:
                state = f" ({progress()})" if progress is not None else ""
                raise TimeoutError(f"waited {timeout:.0f} s for {what}{state}")
            if now - last >= PROGRESS_EVERY_S:
                last = now
                state = f": {progress()}" if progress is not None else ""
                print(f"waiting for {what}, {now - began:.0f} s{state}", flush=True)
            time.sleep(every)

    def status(self) -> list[dict[str, Any]]:
        return [
            {
                "name": c.name,
                "pid": c.proc.pid if c.proc is not None else None,
                "running": c.running,
                "exit_code": c.returncode,
                "healthy": c.running and c.is_ready(),
                "log": str(c.log),
            }
            for c in self.children.values()
        ]

    def release(self) -> None:
        """Stop watching, leave the children running (the demo's fleet outlives the demo)."""
        self._stop.set()
        self.interrupt_main = False

    def stop_all(self, timeout: float = 30) -> None:
        self.release()
        for child in reversed(list(self.children.values())):
            child.stop(timeout)

    @contextlib.contextmanager
    def running(self) -> Iterator[Supervisor]:
        """Stop every child on the way out, whatever happened."""
        try:
            yield self
        finally:
            self.stop_all()


def worker(
    name: str, log: Path, port: int, env: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> Child:
    """A Faust worker; ready when its /health says ok (partitions assigned, not rebalancing)."""
    return Child(
        name,
        ["worker"],
        log,
        env={"WAGERSTREAM_WORKER_WEB_PORT": str(port), **(env or {})},
        health_url=f"http://{host}:{port}/health",
    )


def sink(name: str, log: Path, port: int, env: dict[str, str] | None = None) -> Child:
    """The ClickHouse sink; ready when its /health answers."""
    return Child(
        name,
        ["marts", "sink"],
        log,
        env={"WAGERSTREAM_MARTS_PORT": str(port), **(env or {})},
        health_url=f"http://127.0.0.1:{port}/health",
    )


def relay(name: str, log: Path, port: int, env: dict[str, str] | None = None) -> Child:
    """The CDC relay; ready when its /health says it streams its slot."""
    return Child(
        name,
        ["cdc"],
        log,
        env={"WAGERSTREAM_CDC_METRICS_PORT": str(port), **(env or {})},
        health_url=f"http://127.0.0.1:{port}/health",
    )


def query_sink(port: int, sql: str) -> list[dict[str, Any]]:
    """Rows of `sql` as dicts, through a running `marts sink`'s /query."""
    reply = httpx.post(f"http://127.0.0.1:{port}/query", content=sql, timeout=120)
    body = reply.json()
    if reply.status_code != 200:
        raise RuntimeError(body.get("error", reply.text))
    return [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB; 0 when it is gone."""
    return memory_mb(pid)[0]


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident, anonymous resident) memory of a process in MB; zeros when it is gone.

    The anonymous part is the process's own heap and stacks. The rest of RSS is file pages
    (mapped libraries), which grow as more of a library's code is touched and level off at its
    size: the embedded ClickHouse engine is a 550 MB library, so the sink's RSS climbs for an
    hour without allocating anything. A leak shows in the anonymous part."""
    fields: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "RssAnon"):
                fields[name] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return fields.get("VmRSS", 0.0), fields.get("RssAnon", 0.0)


PORT_FLOOR = 20000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A free port for a child to bind, below the kernel's ephemeral range. Binding port 0
    returns one inside that range, where the next outgoing connection of a Kafka or Redis
    client may land before the child binds it (a soak's scaled-out worker died of exactly
    that); below it only another listener can take it."""
    from foundation.settings import get_settings

    s = get_settings()
    ours = {s.kafka_port, s.kafka_controller_port, s.postgres_port, s.redis_port}
    low = _ephemeral_low()
    for _ in range(500):
        port = random.randrange(PORT_FLOOR, low)
        if port in ours:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {PORT_FLOOR} and {low}: too many listeners")


class MartsSinkProcess:
    """A ClickHouse sink on its own embedded engine, consumer group and port (tests and
    benchmarks; one process per engine directory). Its new group starts at the end of the
    topics: what other runs left there is not its input."""

    def __init__(self, workdir: Path, app_id: str, supervisor: Supervisor | None = None) -> None:
        from foundation.settings import get_settings
        from topics.admin import start_group_at_end
        from topics.catalogue import FACT_TOPICS

        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.group = f"{app_id}-marts"
        settings = get_settings()
        start_group_at_end(settings.kafka, self.group, FACT_TOPICS, settings.topic_partitions, True)
        self.supervisor = supervisor or Supervisor()
        env = {
            "WAGERSTREAM_APP_ID": app_id,
            "WAGERSTREAM_CLICKHOUSE_URL": f"chdb://{workdir / 'clickhouse'}",
        }
        self.child = self.supervisor.start(sink("sink", workdir / "sink.log", self.port, env))

    @property
    def env(self) -> dict[str, str]:
        """The environment that reaches this sink (`wagerstream query` through it)."""
        return {**os.environ, **self.child.env}

    def query(self, sql: str) -> list[dict[str, Any]]:
        self.supervisor.check()
        return query_sink(self.port, sql)

    def stop(self) -> None:
        self.child.stop()
