"""Secrets for `docker compose`: one file per secret under `deploy/secrets/` (ignored by git),
generated once with random passwords, mounted by Compose's `secrets:` at `/run/secrets/<name>`
and read through the settings' `WAGERSTREAM_<NAME>_FILE` variables, so no password is in the
Compose file, the image or an environment listing.

The Redis ACL file is written with the same rules the local stack gives its ACL user
(`tooling.stack.manager.redis_acl_rules`), and the DSNs name the Compose services.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from foundation.settings import REDIS_USER, Settings
from tooling.stack.manager import redis_acl_rules

# secret file → what it holds; the names are the ones docker-compose.yml mounts
SECRETS = (
    "postgres-password", "postgres-dsn", "cdc-postgres-dsn", "redis-acl", "redis-url",
    "clickhouse-password", "clickhouse-url", "clickhouse-sink-password",
    "clickhouse-analyst-password", "grafana-password",
)  # fmt: skip


def secret_values(passwords: dict[str, str], settings: Settings) -> dict[str, str]:
    """The content of every secret file, from one password per account."""
    pg, cdc, rd, ch = (passwords[k] for k in ("postgres", "cdc", "redis", "clickhouse"))
    acl = " ".join(redis_acl_rules(rd, settings))
    return {
        "postgres-password": pg,
        "postgres-dsn": f"postgresql://wagerstream:{pg}@postgres:5432/wagerstream",
        "cdc-postgres-dsn": f"postgresql://wagerstream_cdc:{cdc}@postgres:5432/wagerstream",
        # the default user is switched off: nobody connects without a password
        "redis-acl": f"user default off\nuser {acl}\n",
        "redis-url": f"redis://{REDIS_USER}:{rd}@redis:6379/0",
        "clickhouse-password": ch,
        "clickhouse-url": f"http://wagerstream:{ch}@clickhouse:8123",
        "clickhouse-sink-password": passwords["clickhouse_sink"],
        "clickhouse-analyst-password": passwords["clickhouse_analyst"],
        "grafana-password": passwords["grafana"],
    }


class SecretsError(RuntimeError):
    pass


def write_secrets(directory: Path, settings: Settings) -> list[Path]:
    """Write every secret file, once: when they all exist nothing changes (the databases'
    volumes hold those passwords), and a partial set is an error rather than a new password
    that no longer matches. The files are 0644 in a 0700 folder: Compose bind-mounts them
    as they are, and the services read them as non-root users."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    present = [n for n in SECRETS if (directory / n).exists()]
    if len(present) == len(SECRETS):
        return []
    if present:
        missing = sorted(set(SECRETS) - set(present))
        raise SecretsError(
            f"{directory} has some secrets but not {', '.join(missing)}: restore them from your "
            "backup, or delete the folder and the Compose volumes to start afresh"
        )
    accounts = ("postgres", "cdc", "redis", "clickhouse", "clickhouse_sink", "clickhouse_analyst",
                "grafana")  # fmt: skip
    values = secret_values({a: secrets.token_urlsafe(24) for a in accounts}, settings)
    written = []
    for name in SECRETS:
        path = directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as out:
            out.write(values[name])
        written.append(path)
    return written
