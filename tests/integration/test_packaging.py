"""A built wheel works outside the checkout: its schemas, SQL and risk config travel with it.

The wheel is built from this checkout and installed into a fresh virtualenv in a temporary
folder, away from the repository. Its dependencies come from the project's own environment
(a `.pth` line after the new environment's own site-packages), so what is tested is the
wheel's content and entry point, not PyPI; the project's editable install is not on the path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from foundation.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(the wheel, the new environment's `wagerstream`, what building and installing said)."""
    home = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "-q", "-w", str(home), str(PROJECT_ROOT)],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = home.glob("wagerstream-*.whl")
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(python), "-c", where], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    Path(site, "zz_project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(  # without PYTHONPATH: a checkout on it looks installed already
        [*pip, "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    return wheel, venv / "bin" / "wagerstream", built.stdout + built.stderr + install.stderr


def run(command: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "STACK_DIR", "WAGERSTREAM_STACK_DIR")
    }
    return subprocess.run([str(command), *args], capture_output=True, text=True, cwd=cwd,
                          env={**env, "COLUMNS": "200"}, timeout=120)  # fmt: skip


def test_the_wheel_carries_schemas_sql_and_the_risk_config(installed) -> None:
    wheel, _, said = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    schemas = {n for n in names if n.startswith("schemas/avro/") and n.endswith(".avsc")}
    # today's schemas and the earlier versions kept to read old records (schemas/avro/history)
    assert len(schemas) == len(list((PROJECT_ROOT / "schemas" / "avro").rglob("*.avsc"))) == 13
    assert "schemas/avro/history/ledger_cdc.v1.avsc" in schemas
    assert {n for n in names if n.startswith("ledger/migrations/")} == {
        f"ledger/migrations/{p.name}"
        for p in (PROJECT_ROOT / "ledger" / "migrations").glob("*.sql")
    }
    assert "sinks/clickhouse/migrations/0001_facts.sql" in names
    assert "sinks/clickhouse/columns.toml" in names
    assert "agents/rules/risk.toml" in names and "tooling/stack/kafka-pom.xml" in names
    assert not any(n.startswith("tests/") for n in names)
    assert "warning" not in said.lower(), said  # building and installing print no warnings


def test_commands_run_from_a_fresh_virtualenv_outside_the_checkout(
    installed, tmp_path: Path
) -> None:
    _, wagerstream, _ = installed
    checked = run(wagerstream, "schemas", "check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "12 schema(s) load from" in checked.stdout and "site-packages" in checked.stdout
    # a folder of older schemas: one with a field without a default is refused
    old = tmp_path / "old"
    old.mkdir()
    (old / "bet_settled.avsc").write_text(
        (PROJECT_ROOT / "schemas/avro/bet_settled.avsc").read_text()
    )
    same = run(wagerstream, "schemas", "check", "--against", str(old), cwd=tmp_path)
    assert same.returncode == 0 and "1 schema(s) backward compatible" in same.stdout, same.stdout

    config = run(wagerstream, "config", cwd=tmp_path)
    assert config.returncode == 0, config.stderr
    assert f"project root: {tmp_path}" in config.stdout.replace("\n", "")

    helped = run(wagerstream, "worker", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "Run a Faust worker" in helped.stdout, helped.stderr
    code = "import agents.rules.config as c; print(c.DEFAULT_FILE)"
    where = run(wagerstream.parent / "python", "-c", code, cwd=tmp_path)
    assert "site-packages/agents/rules/risk.toml" in where.stdout, where.stderr
