"""Secrets: from the environment, from files (`<NAME>_FILE`, the Docker and Kubernetes
convention), or generated once for the local stack; and kept out of every log line.

A password is never printed: `redact()` masks the credentials of URLs and libpq key=value
strings, and the logging filter runs it over every record before it is formatted.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

# Settings fields that may carry a credential; each can also be read from `<NAME>_FILE`.
SECRET_FIELDS = (
    "postgres_dsn",
    "cdc_postgres_dsn",
    "redis_url",
    "redis_password",
    "clickhouse_url",
    "clickhouse_sink_password",
    "clickhouse_analyst_password",
    "kafka_sasl_password",
)

_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):[^@/\s]+@"
)
# `password=x` (libpq), `sasl.password': 'x'` (a client config dict), `redis_password='x'` (a repr)
_KEYWORD_PASSWORD = re.compile(
    r"(?P<key>password['\"]?\s*[=:]\s*)('[^']*'|\"[^\"]*\"|[^\s,}]+)", re.IGNORECASE
)


def redact(text: str) -> str:
    """`redis://u:secret@h` → `redis://u:***@h`; `password=secret` → `password=***`."""
    text = _URL_CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", text)
    return _KEYWORD_PASSWORD.sub(r"\g<key>***", text)


def from_files(environ: dict[str, str] | os._Environ[str] = os.environ) -> dict[str, str]:
    """Values of SECRET_FIELDS given as `WAGERSTREAM_<NAME>_FILE` (or the unprefixed
    `<NAME>_FILE` of earlier releases): file content, trailing newline cut. A variable holding
    the value itself, under either name, wins over a file."""
    found: dict[str, str] = {}
    for name in SECRET_FIELDS:
        names = (f"WAGERSTREAM_{name.upper()}", name.upper())
        file_var = next((f"{n}_FILE" for n in names if environ.get(f"{n}_FILE")), None)
        if file_var is None or any(environ.get(n) for n in names):
            continue
        path = environ[file_var]
        try:
            found[name] = Path(path).read_text().rstrip("\n")
        except OSError as exc:
            raise ValueError(
                f"{file_var}={path}: cannot read it ({exc.strerror}). Fix: mount the secret "
                f"there or set {names[0]} instead"
            ) from None
    return found


def local_secret(stack_dir: Path, name: str) -> str:
    """A random secret of the local stack, created on first use (mode 0600), stable after."""
    path = stack_dir / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24))
    return path.read_text().strip()
