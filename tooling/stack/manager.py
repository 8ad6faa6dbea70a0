"""Local stack of real services under one project folder: Kafka (KRaft), PostgreSQL, Redis.

Why our own manager instead of Docker: the development machines and CI have no Docker engine,
and the tests must talk to real servers. Each service installs what is missing (Debian
packages, the Kafka jars from Maven Central), keeps its data under `WAGERSTREAM_STACK_DIR`, records
the
pid it started, and `down` stops only processes whose pid file and command line prove they are
ours. ClickHouse is not here: it is the embedded chdb engine unless WAGERSTREAM_CLICKHOUSE_URL
names a
server.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from foundation.secrets import redact
from foundation.settings import REDIS_USER, Settings

KAFKA_POM = Path(__file__).with_name("kafka-pom.xml")


class StackError(RuntimeError):
    """A service cannot be installed or started; the message names the piece and the fix."""


def _run(cmd: list[str], *, user: str | None = None, check: bool = True, **kw) -> str:
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise StackError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{proc.stderr or proc.stdout}"
        )
    return proc.stdout


def _apt_install(package: str, why: str) -> None:
    """Install a Debian package, refreshing the index once if the first attempt fails."""
    if os.geteuid() != 0:
        raise StackError(
            f"{why} is not installed and this user cannot install it: "
            f"run `sudo apt-get install -y {package}` and try again."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    if subprocess.run(cmd, capture_output=True, env=env).returncode == 0:
        return
    subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise StackError(
            f"could not install {why} (`{' '.join(cmd)}`): {proc.stderr[-800:]}\n"
            f"Fix: make Debian's package index reachable, or install {package} by hand."
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(check: Callable[[], bool], timeout: float, what: str, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    tail = ""
    if log and log.exists():
        tail = (
            "\n--- last lines of "
            + str(log)
            + " ---\n"
            + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        )
    raise StackError(f"{what} did not become healthy within {timeout:.0f}s.{tail}")


def _stop_pid(pid: int, timeout: float = 30.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.2)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


@dataclass
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    endpoint: str


class Service:
    """One server of the stack. Subclasses say how to install, initialise, start and probe it."""

    name: str = ""
    port: int = 0
    start_timeout_s: float = 90

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.stack_dir / self.name
        self.log = settings.stack_dir / "logs" / f"{self.name}.log"

    # -- to implement -----------------------------------------------------------------------
    def install(self) -> None: ...
    def initialise(self) -> None: ...
    def launch(self) -> None: ...
    def healthy(self) -> bool: ...
    def configure(self) -> None:
        """Idempotent set-up of a running service (users, grants); runs on every `up`."""

    def endpoint(self) -> str: ...
    def pid(self) -> int | None: ...
    def owns(self, pid: int) -> bool: ...

    # -- shared lifecycle -------------------------------------------------------------------
    def running_pid(self) -> int | None:
        pid = self.pid()
        return pid if pid and _pid_alive(pid) and self.owns(pid) else None

    def up(self) -> bool:
        """Start unless already running; returns True when this call started it."""
        if self.running_pid():
            _wait(self.healthy, 60, self.name, self.log)
            self.configure()
            return False
        if _port_open(self.port):
            raise StackError(
                f"{self.name}: port {self.port} is already taken by a process this stack did not "
                f"start. Fix: stop that process, or choose another port with "
                f"WAGERSTREAM_{self.name.upper()}_PORT=…"
            )
        self.install()
        self.home.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.initialise()
        self.launch()
        _wait(self.healthy, self.start_timeout_s, self.name, self.log)
        self.configure()
        return True

    def down(self) -> bool:
        pid = self.running_pid()
        if pid is None:
            return False
        _stop_pid(pid)
        return True

    def status(self) -> ServiceStatus:
        pid = self.running_pid()
        return ServiceStatus(self.name, pid is not None, pid, redact(self.endpoint()))


class PidFileService(Service):
    """A service whose pid we record in a file of our own (Postgres has its postmaster.pid)."""

    pidfile: Path

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def down(self) -> bool:
        stopped = super().down()
        self.pidfile.unlink(missing_ok=True)
        return stopped


class Postgres(Service):
    name = "postgres"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.port = settings.postgres_port
        self.data = self.home / "data"
        self.sockets = self.home / "run"
        # PostgreSQL refuses to run as root; Debian's package creates the `postgres` user.
        self.user = "postgres" if os.geteuid() == 0 else None

    def _bindir(self) -> Path | None:
        found = sorted(
            glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
            key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
        )
        return Path(found[-1]).parent if found else None

    def install(self) -> None:
        if self._bindir() is None:
            _apt_install("postgresql", "PostgreSQL")
        if self._bindir() is None:
            raise StackError("PostgreSQL: no pg_ctl under /usr/lib/postgresql/*/bin after install.")

    def _own(self, path: Path) -> None:
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def initialise(self) -> None:
        bindir = self._bindir()
        assert bindir is not None
        self.sockets.mkdir(parents=True, exist_ok=True)
        self._own(self.home)
        self._own(self.sockets)
        if not self.log.exists():
            self.log.touch()
        self._own(self.log)
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            self._own(self.data)
            _run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                user=self.user,
            )
        conf = (
            f"port = {self.port}\n"
            "listen_addresses = 'localhost'\n"
            f"unix_socket_directories = '{self.sockets}'\n"
            "wal_level = logical\n"
            "max_replication_slots = 16\n"
            "max_wal_senders = 16\n"
            "max_slot_wal_keep_size = '4GB'\n"
            "max_connections = 200\n"
            "shared_buffers = '512MB'\n"
        )
        (self.data / "wagerstream.conf").write_text(conf)
        self._own(self.data / "wagerstream.conf")
        main_conf = self.data / "postgresql.conf"
        if "include_if_exists = 'wagerstream.conf'" not in main_conf.read_text():
            with main_conf.open("a") as f:
                f.write("\ninclude_if_exists = 'wagerstream.conf'\n")

    def launch(self) -> None:
        bindir = self._bindir()
        assert bindir is not None
        _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                "60",
                "start",
            ],
            user=self.user,
        )
        _wait(self._accepts, 60, "postgres", self.log)
        self._bootstrap_database()

    def _psql(self, sql: str, db: str = "postgres") -> str:
        return _run(
            [
                "psql",
                "-h",
                str(self.sockets),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ]
        )

    def _accepts(self) -> bool:
        try:
            self._psql("select 1")
            return True
        except StackError:
            return False

    def _bootstrap_database(self) -> None:
        if not self._psql("select 1 from pg_roles where rolname='wagerstream'").strip():
            self._psql("create role wagerstream login superuser replication")
        if not self._psql("select 1 from pg_database where datname='wagerstream'").strip():
            self._psql("create database wagerstream owner wagerstream")

    def healthy(self) -> bool:
        return self._accepts()

    def endpoint(self) -> str:
        return self.settings.postgres

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def owns(self, pid: int) -> bool:
        return str(self.data) in _cmdline(pid)


class Redis(PidFileService):
    name = "redis"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.port = settings.redis_port
        self.pidfile = self.home / "redis.pid"

    def install(self) -> None:
        if shutil.which("redis-server") is None:
            _apt_install("redis-server", "Redis")

    def initialise(self) -> None:
        pass

    def launch(self) -> None:
        _run(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.home),
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pidfile),
                "--logfile",
                str(self.log),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ]
        )
        _wait(lambda: self.pid() is not None, 30, "redis", self.log)

    def healthy(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def configure(self) -> None:
        """The ACL user the pipeline connects as: read-model keys (`WAGERSTREAM_REDIS_PREFIX:*`)
        and the
        commands the read-model writer and readers use; no KEYS, FLUSH*, CONFIG, DEBUG or
        SCRIPT FLUSH. The default user stays for the operator, bound to 127.0.0.1."""
        import redis

        password = redis.connection.parse_url(self.settings.redis).get("password")
        if self.settings.redis_url or not password:
            return  # an external Redis: its users are its operator's business
        admin = redis.Redis(port=self.port, socket_timeout=5)
        admin.execute_command("ACL", "SETUSER", *redis_acl_rules(password, self.settings))

    def endpoint(self) -> str:
        return self.settings.redis

    def owns(self, pid: int) -> bool:
        return "redis-server" in _cmdline(pid) and f":{self.port}" in _cmdline(pid)


def redis_acl_rules(password: str, settings: Settings) -> list[str]:
    """The pipeline's Redis ACL user: read-model keys only, the commands the read-model writer
    and readers use, nothing dangerous. The local stack and Compose's ACL file both use it."""
    return [
        REDIS_USER, "reset", "on", f">{password}", f"~{settings.redis_prefix}:*", "resetchannels",
        "+@read", "+@write", "+@connection", "+evalsha", "+eval", "+script|load", "-@dangerous",
    ]  # fmt: skip


class Kafka(PidFileService):
    name = "kafka"
    # a restart reloads every partition's log: a long-used stack has thousands (each test
    # group's changelogs), and a soak's broker restart on a shared machine took over 90 s
    start_timeout_s = 240

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.port = settings.kafka_port
        self.libs = self.home / "libs"
        self.data = self.home / "data"
        self.config = self.home / "server.properties"
        self.pidfile = self.home / "kafka.pid"

    def _version(self) -> str:
        text = KAFKA_POM.read_text()
        return text.split("<kafka.version>")[1].split("</kafka.version>")[0]

    def install(self) -> None:
        if shutil.which("java") is None:
            raise StackError("Kafka needs Java 17+: `apt-get install -y openjdk-17-jre-headless`.")
        if (self.libs / f"kafka_2.13-{self._version()}.jar").exists():
            return
        if shutil.which("mvn") is None:
            raise StackError("Kafka's jars come from Maven Central: `apt-get install -y maven`.")
        shutil.rmtree(self.libs, ignore_errors=True)
        self.libs.mkdir(parents=True)
        _run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(KAFKA_POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}",
                "-DincludeScope=runtime",
            ]
        )

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        return [
            "java",
            f"-Xmx{heap}",
            "-Dlog4j2.configurationFile=" + str(self.home / "log4j2.properties"),
            "-cp",
            str(self.libs / "*"),
            main,
            *args,
        ]

    def _secure_listener(self) -> dict[str, str]:
        """Properties of the optional SASL_SSL listener (WAGERSTREAM_KAFKA_SASL_SSL_PORT): SCRAM
        over TLS,
        the broker's key and chain from one PEM file. PLAINTEXT stays for the broker itself
        and the stack's own checks, on localhost only."""
        s = self.settings
        if not s.kafka_sasl_ssl_port:
            return {}
        if s.kafka_ssl_keystore_pem is None or not s.kafka_ssl_keystore_pem.exists():
            raise StackError(
                f"WAGERSTREAM_KAFKA_SASL_SSL_PORT={s.kafka_sasl_ssl_port} needs "
                f"WAGERSTREAM_KAFKA_SSL_KEYSTORE_PEM: a PEM "
                "file with the broker's private key (PKCS#8) followed by its certificate chain"
            )
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return {
            "sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram,
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": str(s.kafka_ssl_keystore_pem),
            "inter.broker.listener.name": "PLAINTEXT",
        }

    def initialise(self) -> None:
        s = self.settings
        listeners = f"PLAINTEXT://localhost:{s.kafka_port}"
        protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        if s.kafka_sasl_ssl_port:
            listeners += f",SASL_SSL://localhost:{s.kafka_sasl_ssl_port}"
            protocols += ",SASL_SSL:SASL_SSL"
        secure = "".join(f"{k}={v}\n" for k, v in self._secure_listener().items())
        self.config.write_text(
            "process.roles=broker,controller\n"
            "node.id=1\n"
            f"controller.quorum.bootstrap.servers=localhost:{s.kafka_controller_port}\n"
            f"listeners={listeners},CONTROLLER://localhost:{s.kafka_controller_port}\n"
            f"advertised.listeners={listeners}\n"
            "controller.listener.names=CONTROLLER\n"
            f"listener.security.protocol.map={protocols}\n"
            f"{secure}"
            f"log.dirs={self.data}\n"
            f"num.partitions={s.topic_partitions}\n"
            "auto.create.topics.enable=false\n"
            "offsets.topic.replication.factor=1\n"
            "offsets.topic.num.partitions=12\n"
            "transaction.state.log.replication.factor=1\n"
            "transaction.state.log.min.isr=1\n"
            "share.coordinator.state.topic.replication.factor=1\n"
            "group.initial.rebalance.delay.ms=0\n"
            "log.retention.hours=168\n"
        )
        (self.home / "log4j2.properties").write_text(
            "status = warn\n"
            "appender.console.type = Console\n"
            "appender.console.name = STDOUT\n"
            "appender.console.layout.type = PatternLayout\n"
            "appender.console.layout.pattern = [%d] %p %m (%c)%n\n"
            "rootLogger.level = info\n"
            "rootLogger.appenderRef.stdout.ref = STDOUT\n"
            "logger.kafka.name = kafka\nlogger.kafka.level = warn\n"
            "logger.apache.name = org.apache.kafka\nlogger.apache.level = warn\n"
        )
        if not (self.data / "meta.properties").exists():
            cluster_id = kafka_cluster_id()
            _run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(self.config),
                )
            )

    def launch(self) -> None:
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                self._java("kafka.Kafka", str(self.config), heap=self.settings.kafka_heap),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pidfile.write_text(str(proc.pid))

    def healthy(self) -> bool:
        if not _port_open(self.port):
            return False
        from confluent_kafka.admin import AdminClient

        try:
            AdminClient({"bootstrap.servers": f"localhost:{self.port}"}).list_topics(timeout=2)
            return True
        except Exception:
            return False

    def configure(self) -> None:
        """With a SASL_SSL listener, make WAGERSTREAM_KAFKA_SASL_USERNAME a SCRAM user (upsert)."""
        s = self.settings
        if not (s.kafka_sasl_ssl_port and s.kafka_sasl_username and s.kafka_sasl_password):
            return
        from confluent_kafka.admin import (
            AdminClient,
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialUpsertion,
        )

        admin = AdminClient({"bootstrap.servers": f"localhost:{self.port}"})
        mechanism = ScramMechanism.SCRAM_SHA_256
        if s.kafka_sasl_mechanism != "SCRAM-SHA-256":
            mechanism = ScramMechanism.SCRAM_SHA_512
        upsert = UserScramCredentialUpsertion(
            s.kafka_sasl_username,
            ScramCredentialInfo(mechanism, 8192),
            s.kafka_sasl_password.encode(),
        )
        for future in admin.alter_user_scram_credentials([upsert]).values():
            future.result(timeout=30)

    def endpoint(self) -> str:
        return self.settings.kafka

    def owns(self, pid: int) -> bool:
        return "kafka.Kafka" in _cmdline(pid) and str(self.config) in _cmdline(pid)


class Stack:
    """The three servers, started in dependency-free order and stopped in reverse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: list[Service] = [Postgres(settings), Redis(settings), Kafka(settings)]

    def up(self) -> dict[str, bool]:
        return {svc.name: svc.up() for svc in self.services}

    def down(self) -> dict[str, bool]:
        return {svc.name: svc.down() for svc in reversed(self.services)}

    def status(self) -> list[ServiceStatus]:
        return [svc.status() for svc in self.services]


def kafka_cluster_id() -> str:
    """A KRaft cluster id as Kafka's own `random-uuid` makes it: base64url of a random UUID,
    drawn again when it starts with '-', which the storage tool's argument parser would take
    for an option (one fresh stack in 64 failed to format its broker so)."""
    while True:
        cluster_id = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
