"""Secrets come from the environment or files and never reach a log line."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import stat
from pathlib import Path

import pytest

from foundation.logs import logging_config
from foundation.secrets import from_files, local_secret, redact
from foundation.settings import Settings


def test_redact_masks_url_and_keyword_passwords_only() -> None:
    assert redact("redis://wagerstream:s3cr3t@localhost:16379/0") == (
        "redis://wagerstream:***@localhost:16379/0"
    )
    assert (
        redact("postgresql://cdc:p%40ss@db:5432/ledger ok")
        == "postgresql://cdc:***@db:5432/ledger ok"
    )
    assert (
        redact("host=db user=cdc password=hunter2 dbname=x")
        == "host=db user=cdc password=*** dbname=x"
    )
    assert redact("{'sasl.username': 'ws', 'sasl.password': 's3cr3t'}") == (
        "{'sasl.username': 'ws', 'sasl.password': ***}"
    )
    assert redact("Settings(kafka_sasl_password='s3cr3t', app_id='x')") == (
        "Settings(kafka_sasl_password=***, app_id='x')"
    )
    assert redact("http://clickhouse:8123 and kafka://broker:9092") == (
        "http://clickhouse:8123 and kafka://broker:9092"
    )


def test_settings_read_credentials_from_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "cdc-dsn"
    secret.write_text("postgresql://wagerstream_cdc:from-file@db/ledger\n")
    monkeypatch.setenv("CDC_POSTGRES_DSN_FILE", str(secret))
    monkeypatch.setenv("REDIS_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"REDIS_PASSWORD_FILE=.*missing: cannot read it"):
        Settings()
    monkeypatch.delenv("REDIS_PASSWORD_FILE")
    assert Settings().cdc_postgres == "postgresql://wagerstream_cdc:from-file@db/ledger"
    monkeypatch.setenv("CDC_POSTGRES_DSN", "postgresql://wagerstream_cdc:env@db/ledger")
    assert from_files() == {}  # the variable itself wins over its _FILE


def test_local_secret_is_created_once_private_and_stable(tmp_path: Path) -> None:
    first = local_secret(tmp_path, "redis-password")
    assert len(first) == 32 and local_secret(tmp_path, "redis-password") == first
    mode = (tmp_path / "secrets" / "redis-password").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_no_password_reaches_the_json_log() -> None:
    logging.config.dictConfig(logging_config("INFO"))
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    log = logging.getLogger("some.library")
    log.warning("connecting to %s", "redis://wagerstream:s3cr3t@localhost:16379/0")
    log.warning("retrying postgresql://cdc:hunter2@db/ledger")
    lines = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert lines == [
        "connecting to redis://wagerstream:***@localhost:16379/0",
        "retrying postgresql://cdc:***@db/ledger",
    ]
