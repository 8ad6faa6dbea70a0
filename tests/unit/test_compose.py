"""docker-compose.yml checked as far as a machine without Docker can: against the Compose
specification (PyPI's compose-spec, the compose_spec Rust library), every environment variable
a real setting, every service a setting names present, every volume where its image writes,
secrets from files, one non-root image."""

from __future__ import annotations

import copy
import json
import stat
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from compose_spec import PyCompose

from foundation.secrets import SECRET_FIELDS
from foundation.settings import PROJECT_ROOT, Settings, env_name
from tooling.deploy import SECRETS, SecretsError, write_secrets
from tooling.stack.manager import redis_acl_rules

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
OURS = {n: s for n, s in SERVICES.items() if s.get("image") == "wagerstream:local"}
# where each image keeps its data (its documentation; the worker's is our Dockerfile's ENV)
WRITES = {
    "kafka": "/var/lib/kafka/data", "postgres": "/var/lib/postgresql/data", "redis": "/data",
    "clickhouse": "/var/lib/clickhouse", "prometheus": "/prometheus",
    "grafana": "/var/lib/grafana",
}  # fmt: skip


def validate(document: dict) -> None:
    """Merge keys resolved (a YAML feature, done by the YAML loader), then the spec."""
    PyCompose.from_json(json.dumps(document)).to_spec()


def test_the_file_follows_the_compose_specification() -> None:
    validate(COMPOSE)
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["worker"]["depends_on"]["redis"]["condition"] = "service_ready"
    with pytest.raises(ValueError):
        validate(broken)  # the validator does refuse what Compose would


def test_every_wagerstream_variable_is_a_setting_and_secrets_come_from_files() -> None:
    names = {env_name(f) for f in Settings.model_fields}
    files = {f"{env_name(f)}_FILE" for f in SECRET_FIELDS}
    assert set(OURS) == {"topics", "migrate", "cdc", "marts", "worker"}
    for name, service in OURS.items():
        env = service["environment"]
        # besides ours, only OpenTelemetry's standard variables (read by its SDK)
        assert [k for k in env if k not in names | files and not k.startswith("OTEL_")] == [], name
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318", name
        # no credential inline: each is a file Compose mounts from its `secrets:`
        assert [k for k in env if k.removesuffix("_FILE") in names and
                k.removeprefix("WAGERSTREAM_").lower() in SECRET_FIELDS] == [], name  # fmt: skip
        for key, value in env.items():
            if key.endswith("_FILE"):
                secret = value.removeprefix("/run/secrets/")
                assert secret in service["secrets"] and secret in COMPOSE["secrets"], key
    for name, secret in COMPOSE["secrets"].items():
        assert secret == {"file": f"./deploy/secrets/{name}"} and name in SECRETS


def test_every_service_a_setting_names_is_there(tmp_path: Path) -> None:
    env = OURS["worker"]["environment"]
    hosts = {env["WAGERSTREAM_KAFKA_BOOTSTRAP_SERVERS"].split(":")[0],
             urlsplit(env["WAGERSTREAM_SCHEMA_REGISTRY_URL"]).hostname}  # fmt: skip
    write_secrets(tmp_path, Settings())
    for name in ("postgres-dsn", "cdc-postgres-dsn", "redis-url", "clickhouse-url"):
        hosts.add(urlsplit((tmp_path / name).read_text()).hostname)
    hosts.add(urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"]).hostname)
    assert hosts == {"kafka", "schema-registry", "postgres", "redis", "clickhouse", "jaeger"}
    assert hosts <= set(SERVICES)
    for name in ("cdc", "marts", "worker"):
        assert set(OURS[name]["depends_on"]) >= {"migrate", "schema-registry"}
    assert SERVICES["migrate"]["depends_on"]["topics"] == {
        "condition": "service_completed_successfully"
    }


def test_every_volume_is_mounted_where_its_image_writes() -> None:
    for name, path in WRITES.items():
        mounts = [v.split(":") for v in SERVICES[name]["volumes"]]
        named = [m for m in mounts if m[0] in COMPOSE["volumes"]]
        assert [m[1] for m in named] == [path], name
    assert SERVICES["kafka"]["environment"]["KAFKA_LOG_DIRS"] == WRITES["kafka"]
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "WAGERSTREAM_STATE_DIR=/var/lib/wagerstream" in dockerfile
    assert SERVICES["worker"]["volumes"] == ["/var/lib/wagerstream"]  # one per replica


def test_one_non_root_image_with_health_checks_and_conditions() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "\nUSER wagerstream\n" in dockerfile
    assert {s["build"] for s in OURS.values()} == {"."}
    for name, service in SERVICES.items():
        for dep in service.get("depends_on", {}).values():
            assert dep["condition"] in ("service_healthy", "service_completed_successfully",
                                        "service_started"), name  # fmt: skip
        if service.get("restart") == "unless-stopped" or name in WRITES:
            assert "healthcheck" in service, name
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".stack", "deploy", "tests"} <= set(ignored)
    assert SERVICES["clickhouse"]["environment"]["CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT"] == 1


def test_secrets_are_written_once_and_agree(tmp_path: Path) -> None:
    settings = Settings()
    written = write_secrets(tmp_path / "s", settings)
    assert sorted(p.name for p in written) == sorted(SECRETS)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in written)
    read = {p.name: p.read_text() for p in written}
    assert urlsplit(read["postgres-dsn"]).password == read["postgres-password"]
    assert urlsplit(read["clickhouse-url"]).password == read["clickhouse-password"]
    redis_password = urlsplit(read["redis-url"]).password
    assert read["redis-acl"] == (
        "user default off\nuser " + " ".join(redis_acl_rules(redis_password, settings)) + "\n"
    )
    assert write_secrets(tmp_path / "s", settings) == []  # kept: the volumes hold them
    (tmp_path / "s" / "redis-url").unlink()
    with pytest.raises(SecretsError, match="has some secrets but not redis-url"):
        write_secrets(tmp_path / "s", settings)
