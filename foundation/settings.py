"""The one place configuration comes from: environment variables with defaults that run locally.

Every field is documented in the README's configuration table; `wagerstream config` prints the
effective values. Fields are read once per process (`get_settings()` is cached) because a
worker must not change its mind about ports or topics halfway through a run.

Every variable is named `WAGERSTREAM_<FIELD>`. Kubernetes injects `<SERVICE>_PORT=tcp://ip:port`
(and more) for every Service in the namespace, so unprefixed names such as `REDIS_PORT` or
`MARTS_PORT` collide with Services called redis or marts. The unprefixed names of earlier
releases are still read when the prefixed one is unset (`LegacyNames`), except values shaped
like a service link, which are skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, computed_field, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from foundation.secrets import from_files, local_secret
from foundation.units import DAY_MS, HOUR_MS

REDIS_USER = "wagerstream"  # the local stack's ACL user (tooling.stack.manager)


def _project_root() -> Path:
    """The checkout when running from one (the local stack lives in its `.stack/`); the
    working directory when installed from a wheel (site-packages is no place for data)."""
    checkout = Path(__file__).resolve().parent.parent
    return checkout if (checkout / "pyproject.toml").exists() else Path.cwd()


PROJECT_ROOT = _project_root()
ENV_PREFIX = "WAGERSTREAM_"
# What Kubernetes puts in `<SERVICE>_PORT` and `<SERVICE>_PORT_<n>_<PROTO>`: never a setting.
SERVICE_LINK = re.compile(r"^(tcp|udp|sctp)://", re.IGNORECASE)


def env_name(field: str) -> str:
    """The environment variable of a settings field: `redis_port` → `WAGERSTREAM_REDIS_PORT`."""
    return ENV_PREFIX + field.upper()


def legacy_values(fields: Mapping[str, object], environ: Mapping[str, str]) -> dict[str, str]:
    """Fields given under their unprefixed name only (earlier releases' names), skipping the
    values Kubernetes service links put there."""
    upper = {k.upper(): v for k, v in environ.items()}
    return {
        name: upper[name.upper()]
        for name in fields
        if name.upper() in upper
        and env_name(name) not in upper
        and not SERVICE_LINK.match(upper[name.upper()])
    }


class LegacyNames(PydanticBaseSettingsSource):
    """The unprefixed names, below the prefixed ones in priority (see the module docstring)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        return legacy_values(self.settings_cls.model_fields, os.environ)


class ConfigError(SystemExit):
    """A setting that cannot be used. A SystemExit, so an uncaught one ends any process (worker,
    relay, sink, CLI) with its one-line message and exit code 1, not a pydantic traceback."""


def explain(exc: ValidationError, environ: Mapping[str, str] = os.environ) -> str:
    """One line per run: each bad variable, under the name it was given, with what it expects."""
    upper = {k.upper(): k for k in environ}
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        given = next(
            (upper[n] for n in (env_name(field), field.upper()) if field and n in upper),
            env_name(field) if field else "configuration",
        )
        value = f"={environ[given]!r}" if given in environ else ""
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{given}{value}: {message}")
    fix = "Fix: correct or unset it (`wagerstream config` lists every variable and default)."
    return "; ".join(parts) + ". " + fix


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, case_sensitive=False, extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, LegacyNames(settings_cls)

    # --- local stack -------------------------------------------------------------------
    stack_dir: Path = Field(PROJECT_ROOT / ".stack", description="Folder of the local stack.")
    kafka_port: int = Field(19092, description="Local broker's client port.")
    kafka_controller_port: int = Field(19093, description="Local broker's KRaft controller port.")
    kafka_heap: str = Field("1g", description="Local broker's JVM heap (-Xmx).")
    postgres_port: int = Field(15432, description="Local PostgreSQL port.")
    redis_port: int = Field(16379, description="Local Redis port.")

    # --- connections (default to the local stack) ---------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        None, description="Kafka bootstrap servers; default localhost:WAGERSTREAM_KAFKA_PORT."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How every Kafka client (workers, relay, sink, tools) connects."
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism for SASL_PLAINTEXT and SASL_SSL."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user of every Kafka client.")
    kafka_sasl_password: str | None = Field(None, description="SASL password (or _FILE).")
    kafka_ssl_ca_file: Path | None = Field(
        None, description="PEM file of the CA that signed the brokers' certificates (TLS)."
    )
    kafka_sasl_ssl_port: int = Field(
        0,
        description="Local broker: also listen with SASL_SSL on this port (0 = off); needs "
        "WAGERSTREAM_KAFKA_SSL_KEYSTORE_PEM and creates WAGERSTREAM_KAFKA_SASL_USERNAME as a "
        "SCRAM user.",
    )
    kafka_ssl_keystore_pem: Path | None = Field(
        None, description="Local broker's SASL_SSL listener: PEM file, private key then chain."
    )
    postgres_dsn: str | None = Field(
        None, description="PostgreSQL DSN; default the local stack's `wagerstream` database."
    )
    cdc_postgres_dsn: str | None = Field(
        None,
        description="DSN of the CDC relay (role with REPLICATION and SELECT on the ledger only); "
        "default the local stack's `wagerstream_cdc` role.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL; default the local stack's, as its ACL user `wagerstream` "
        "(keys under WAGERSTREAM_REDIS_PREFIX only).",
    )
    redis_password: str | None = Field(
        None,
        description="Password of the local stack's Redis ACL user; default generated once into "
        "WAGERSTREAM_STACK_DIR/secrets/redis-password.",
    )
    clickhouse_url: str | None = Field(
        None, description="ClickHouse: `http://user:pw@host:8123`, or default embedded chdb://."
    )
    clickhouse_database: str = Field("wagerstream", description="ClickHouse database.")
    clickhouse_sink_password: str | None = Field(
        None,
        description="Password of the `wagerstream_sink` user that marts migration 0004 creates "
        "on a ClickHouse server (only its SHA-256 is sent); unused by the embedded engine.",
    )
    clickhouse_analyst_password: str | None = Field(
        None,
        description="Password of the analysts' `wagerstream_reader` user (read-only role) that "
        "marts migration 0005 creates on a ClickHouse server; unused by the embedded engine.",
    )
    schema_registry_url: str | None = Field(
        None, description="Confluent Schema Registry; unset = Avro single-object encoding."
    )

    # --- contract ----------------------------------------------------------------------
    topic_partitions: int = Field(12, description="Partitions of every player-keyed topic.")
    topic_replication: int = Field(1, description="Replication factor of created topics.")
    redis_prefix: str = Field("ws", description="Prefix of every Redis read-model key.")
    max_clock_skew_ms: int = Field(
        300_000, description="Events whose occurred_at is further in the future go to the DLQ."
    )

    # --- worker ------------------------------------------------------------------------
    app_id: str = Field("wagerstream", description="Faust app id = consumer group prefix.")
    worker_web_port: int = Field(6066, description="Worker HTTP port (/metrics, /health).")
    worker_web_host: str = Field("127.0.0.1", description="Worker HTTP bind address.")
    state_dir: Path | None = Field(
        None, description="RocksDB tables; default WAGERSTREAM_STACK_DIR/state."
    )
    settled_memory_ms: int = Field(
        7 * DAY_MS,
        description="How long a settled bet id is remembered (late placements, duplicates).",
    )
    worker_instance_id: str | None = Field(
        None,
        description="Static group membership id (e.g. the pod name): a restarted worker takes "
        "its partitions back without a rebalance.",
    )
    session_timeout_s: float = Field(
        10.0, description="Consumer session timeout: how soon a dead worker's partitions move."
    )
    kafka_metadata_max_age_ms: int = Field(
        300_000,
        description="How often a worker's consumer refreshes topic metadata (a topic that "
        "appears, or a partition count that changes, triggers a rebalance then).",
    )
    worker_gauge_interval_s: float = Field(
        15.0,
        description="Seconds between the worker's consumer-lag gauges (table sizes: 4x that).",
    )
    worker_rocksdb_write_buffer_mb: int = Field(
        4,
        description="RocksDB memtable size of each table partition's database (two of them): "
        "Faust's default, 64 MB x 3, grows a worker by gigabytes before the first flush.",
    )
    worker_rocksdb_block_cache_mb: int = Field(
        8, description="RocksDB block cache of each table partition's database."
    )
    log_level: str = Field("INFO", description="Log level of the JSON logs.")
    worker_batch_max: int = Field(
        1000,
        description="Most events per agent batch: state, changelog and Redis writes are made "
        "once per player per batch.",
    )
    worker_batch_wait_s: float = Field(
        0.05,
        description="Longest wait for a batch to fill: a batch is handled when it holds "
        "WAGERSTREAM_WORKER_BATCH_MAX events or this much time passed since its first.",
    )
    worker_batch_max_behind: int = Field(
        5000,
        description="Most events per batch while the worker is behind (a full batch already "
        "waits in its stream buffer): larger batches write each read model once for more "
        "events (1.38x in the drain benchmark); a worker keeping up never waits for them.",
    )
    worker_batch_wait_behind_s: float = Field(
        0.5,
        description="Longest a batch collects while the worker is behind "
        "(WAGERSTREAM_WORKER_BATCH_MAX_BEHIND).",
    )
    worker_state_flush_s: float = Field(
        1.0,
        description="Seconds between writes of changed table state (one RocksDB put and one "
        "changelog record per changed key, however many events touched it); offsets are acked "
        "only after the state that covers them is on its changelog, so a crash replays from "
        "there. 0 = after every batch (1.19-1.30x slower in the drain benchmark).",
    )
    worker_commit_interval_s: float = Field(
        2.8,
        description="Seconds between the worker's offset commits (Faust's default); a commit "
        "covers only events whose state is written, and Faust flushes its producer first.",
    )
    worker_fetch_max_bytes: int = Field(
        1024**2,
        description="Most bytes a fetch returns per partition (Faust's consumer_max_fetch_size).",
    )
    worker_fetch_min_bytes: int = Field(
        1,
        ge=1,
        le=1024**2,
        description="Least bytes the broker gathers for a fetch before it answers, waiting up "
        "to WAGERSTREAM_WORKER_FETCH_MAX_WAIT_MS (aiokafka's fetch_min_bytes; 1: answer as soon "
        "as anything is there).",
    )
    worker_fetch_max_wait_ms: int = Field(
        1500,
        ge=1,
        le=10_000,
        description="Longest the broker holds a fetch while it has fewer than "
        "WAGERSTREAM_WORKER_FETCH_MIN_BYTES (aiokafka's fetch_max_wait_ms; Faust's 1,500).",
    )
    worker_producer_batch_bytes: int = Field(
        512 * 1024,
        ge=16384,
        le=1_000_000,
        description="Most bytes the worker's producer gathers per partition before a send "
        "(Faust's producer_max_batch_size; aiokafka's default is 16,384): aiokafka holds one "
        "open batch per partition and makes the next record wait until a full one is sent, so "
        "small batches cost a broker round trip per few changelog records at every flush. At most "
        "1,000,000: a batch must fit the broker's message.max.bytes (1 MB by default).",
    )
    worker_max_poll_records: int | None = Field(
        None, description="Most records per consumer poll (unset: aiokafka's default, no limit)."
    )
    worker_event_loop: Literal["asyncio", "uvloop"] = Field(
        "asyncio", description="The worker's event loop (Faust's `-L`): uvloop is faster."
    )
    worker_monitor: Literal["full", "quiet"] = Field(
        "full",
        description="Faust's Monitor sensor: `full` keeps its per-event statistics (Faust's "
        "own /stats page); `quiet` skips them (the wagerstream_* metrics do not need them).",
    )
    worker_tracemalloc_frames: int = Field(
        0,
        ge=0,
        description="Trace the worker's allocations with this many frames each (0: off; it "
        "costs CPU) and serve the largest allocation sites on /memory.",
    )
    worker_gc_young: int = Field(
        50_000,
        ge=100,
        description="Objects allocated (net) between two young-generation collections of the "
        "worker's garbage collector (Python's threshold0, 700 by default): a batch's objects "
        "then die before they are promoted, and the full collections that walk every object "
        "come round far less often (foundation/collector.py).",
    )
    worker_gc_freeze: bool = Field(
        True,
        description="Move what exists once the worker has started (modules, the app) to the "
        "garbage collector's permanent generation, which no collection walks (gc.freeze).",
    )
    worker_state_cache_keys: int = Field(
        50_000,
        description="Unchanged table values kept in memory per agent after a flush, so the "
        "next event of the same player skips the RocksDB read and decode.",
    )
    worker_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest",
        description="Where a new consumer group (workers and ClickHouse sink) starts: "
        "`earliest` (all retained input) or `latest` (only new events: the latency benchmark "
        "and `wagerstream chaos`).",
    )
    worker_agents: Literal["all", "noop"] = Field(
        "all",
        description="`all`, or `noop` (one do-nothing agent: the throughput benchmark's "
        "framework ceiling).",
    )
    risk_config: Path | None = Field(
        None, description="TOML file of the risk rules' thresholds; default agents/rules/risk.toml."
    )
    dedup_memory_ms: int = Field(
        HOUR_MS,
        description="How long (event time) the risk rules remember event ids to skip replays.",
    )
    stuck_scan_s: float = Field(
        60.0, description="Seconds between scans for stuck bets of players who went quiet."
    )

    # --- ClickHouse sink ----------------------------------------------------------------
    marts_port: int = Field(
        6068, description="ClickHouse sink HTTP port (/metrics, /health, /query)."
    )
    marts_batch_max: int = Field(20000, description="Most records per ClickHouse insert.")
    marts_batch_wait_ms: int = Field(
        250, description="Longest wait to fill a ClickHouse batch (freshness vs. insert size)."
    )
    marts_fault_file: Path | None = Field(
        None,
        description="Fault injection (`wagerstream chaos`): while this file exists, every "
        "ClickHouse insert of the sink fails.",
    )

    reporting_currency: str = Field(
        "EUR",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 currency kpi_daily_reporting rolls every currency up into "
        "(through the fx_rates table); set at `marts migrate` and each sink start.",
    )

    # --- CDC relay ---------------------------------------------------------------------
    cdc_slot: str = Field("wagerstream_cdc", description="Logical replication slot of the relay.")
    cdc_metrics_port: int = Field(6067, description="CDC relay HTTP port (/metrics, /health).")

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        """`<NAME>_FILE` for every credential-bearing setting (see foundation.secrets)."""
        if isinstance(data, dict):
            return {**from_files(), **data}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kafka(self) -> str:
        return self.kafka_bootstrap_servers or f"localhost:{self.kafka_port}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def postgres(self) -> str:
        return self.postgres_dsn or (
            f"postgresql://wagerstream@localhost:{self.postgres_port}/wagerstream"
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cdc_postgres(self) -> str:
        return self.cdc_postgres_dsn or (
            f"postgresql://wagerstream_cdc@localhost:{self.postgres_port}/wagerstream"
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def redis(self) -> str:
        if self.redis_url:
            return self.redis_url
        password = self.redis_password or local_secret(self.stack_dir, "redis-password")
        return f"redis://{REDIS_USER}:{password}@localhost:{self.redis_port}/0"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def clickhouse(self) -> str:
        return self.clickhouse_url or f"chdb://{self.stack_dir / 'clickhouse'}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def state_path(self) -> Path:
        return self.state_dir or self.stack_dir / "state"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"error: {explain(exc)}") from None
