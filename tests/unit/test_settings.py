"""Settings under Kubernetes: prefixed names, service links ignored, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from foundation.settings import ConfigError, Settings, env_name, get_settings

LINKS = {
    "REDIS_PORT": "tcp://10.0.0.1:6379",
    "KAFKA_PORT": "tcp://10.0.0.2:9092",
    "POSTGRES_PORT": "tcp://10.0.0.3:5432",
    "MARTS_PORT": "udp://10.0.0.5:6068",
    "WORKER_WEB_PORT": "tcp://10.0.0.6:6066",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No setting from the caller's environment (CI sets the stack's ports)."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(env_name(name), raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_service_links_in_old_names_are_ignored(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in LINKS.items():
        clean_env.setenv(name, value)
    s = Settings()
    assert (s.redis_port, s.kafka_port, s.postgres_port) == (16379, 19092, 15432)
    assert (s.marts_port, s.worker_web_port) == (6068, 6066)
    assert s.kafka == "localhost:19092"


def test_prefixed_name_wins_and_old_names_still_work(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("KAFKA_PORT", "29092")
    clean_env.setenv("MARTS_PORT", "7001")
    clean_env.setenv("WAGERSTREAM_MARTS_PORT", "7002")
    clean_env.setenv("wagerstream_app_id", "lower-case")
    s = Settings()
    assert (s.kafka_port, s.marts_port, s.app_id) == (29092, 7002, "lower-case")


def test_a_bad_value_is_one_line_naming_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("WAGERSTREAM_REDIS_PORT", "tcp://10.0.0.1:6379")
    clean_env.setenv("WORKER_OFFSET_RESET", "newest")
    with pytest.raises(ConfigError) as caught:
        get_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("error: WAGERSTREAM_REDIS_PORT='tcp://10.0.0.1:6379': Input ")
    assert "WORKER_OFFSET_RESET='newest': Input should be 'earliest' or 'latest'" in message
    assert message.endswith("Fix: correct or unset it (`wagerstream config` lists every "
                            "variable and default).")  # fmt: skip
    assert isinstance(caught.value, SystemExit)


def run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    ours = {f.upper() for f in Settings.model_fields} | {env_name(f) for f in Settings.model_fields}
    clean = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env, "COLUMNS": "250"},
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_faust_reads_nothing_from_the_environment() -> None:
    """Faust's own WEB_PORT (a Service called web) used to crash the worker at import."""
    done = run("from agents.app import app; print(app.conf.web_port)",
               {**LINKS, "WEB_PORT": "tcp://10.0.0.4:80", "BROKER_COMMIT_EVERY": "x"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6066"


def test_config_prints_effective_values_and_where_they_came_from() -> None:
    code = "from wagerstream.cli.main import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "config"],
        env={**{k: v for k, v in os.environ.items() if "PORT" not in k}, **LINKS,
             "WAGERSTREAM_APP_ID": "fleet-a", "CDC_SLOT": "old_slot", "COLUMNS": "250"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {
        cells[0]: cells[1:3]
        for line in done.stdout.splitlines()
        if len(cells := [c.strip() for c in line.split("│")[1:-1]]) == 4 and cells[0]
    }
    assert rows["WAGERSTREAM_REDIS_PORT"] == ["16379", "default"]
    assert rows["WAGERSTREAM_APP_ID"] == ["fleet-a", "environment"]
    assert rows["WAGERSTREAM_CDC_SLOT"] == ["old_slot", "CDC_SLOT (old name)"]
    assert rows["WAGERSTREAM_KAFKA_BOOTSTRAP_SERVERS"][1] == "derived"
    assert rows["WAGERSTREAM_WORKER_MAX_POLL_RECORDS"] == ["unset", "default"]


def test_a_bad_value_ends_the_cli_with_one_line() -> None:
    code = "from wagerstream.cli.main import main; main()"
    done = subprocess.run([sys.executable, "-c", code, "config"],
                          env={**os.environ, "WAGERSTREAM_TOPIC_PARTITIONS": "twelve"},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: WAGERSTREAM_TOPIC_PARTITIONS='twelve': Input should be a valid integer, unable "
        "to parse string as an integer. Fix: correct or unset it (`wagerstream config` lists "
        "every variable and default)."
    ]


def test_the_producer_batch_reaches_faust_and_stays_under_the_broker_limit() -> None:
    code = "from agents.app import app; print(app.conf.producer_max_batch_size)"
    assert run(code, {}).stdout.strip() == str(512 * 1024)
    assert run(code, {"WAGERSTREAM_WORKER_PRODUCER_BATCH_BYTES": "65536"}).stdout.strip() == "65536"
    refused = run(code, {"WAGERSTREAM_WORKER_PRODUCER_BATCH_BYTES": "2000000"})
    assert refused.returncode != 0
    assert (
        "WAGERSTREAM_WORKER_PRODUCER_BATCH_BYTES='2000000': Input should be less than or "
        "equal to 1000000" in refused.stderr
    )


def test_the_fetch_wait_defaults_to_fausts_and_is_bounded(clean_env: pytest.MonkeyPatch) -> None:
    s = get_settings()
    assert (s.worker_fetch_min_bytes, s.worker_fetch_max_wait_ms) == (1, 1500)
    clean_env.setenv("WAGERSTREAM_WORKER_FETCH_MAX_WAIT_MS", "60000")
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as refused:
        get_settings()
    assert (
        "WAGERSTREAM_WORKER_FETCH_MAX_WAIT_MS='60000': Input should be less than or equal to "
        "10000" in str(refused.value)
    )
