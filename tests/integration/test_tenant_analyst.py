"""`wagerstream marts tenant-analyst` on the embedded engine: the role, row policy and login
are parsed by the real ClickHouse parser (the engine has no access storage to run them), and
the CLI's refusals are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.embedded import on_engine

pytestmark = pytest.mark.integration


def test_tenant_analyst_statements_parse_and_bad_input_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "ch"
    migrated = on_engine(data, "marts", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "0009_row_policies (parsed only: no access storage)" in migrated.stdout
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    done = on_engine(data, "marts", "tenant-analyst", "acme", "--password-file", str(secret))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "acme_analyst: role wagerstream_tenant_acme, rows of tenant acme: parsed only (the "
        "embedded engine has no access storage)"
    )
    refused = on_engine(data, "marts", "tenant-analyst", "a b", "--password-file", str(secret))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "error: tenant 'a b' cannot name a ClickHouse role: use letters, digits, '_' and '-' "
        "(at most 63, starting with a letter or digit)"
    ]
    missing = on_engine(data, "marts", "tenant-analyst", "acme")
    assert missing.returncode == 1
    assert "give the login's password with --password-file" in missing.stderr
