"""ClickHouse client: the embedded engine (chdb) by default, a server when
WAGERSTREAM_CLICKHOUSE_URL says so.

Both go through clickhouse-connect, so the sink, the migrations and `wagerstream query` run the
same ClickHouse SQL either way: `chdb:///path` opens the embedded engine on a data directory
(one process at a time: it locks the directory), `http(s)://user:password@host:port` talks to
a server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect

from foundation.settings import Settings


class ClickHouseConfigError(ValueError):
    pass


def connect(settings: Settings, create_database: bool = True) -> Any:
    url = settings.clickhouse
    scheme = urlparse(url).scheme
    if scheme not in ("chdb", "http", "https", "clickhouse", "clickhouses"):
        raise ClickHouseConfigError(
            f"WAGERSTREAM_CLICKHOUSE_URL={url!r}: use chdb:///data/dir (embedded) or "
            "http://user:password@host:8123 (server)"
        )
    if scheme == "chdb" and url[len("chdb://") :]:
        Path(url[len("chdb://") :]).mkdir(parents=True, exist_ok=True)
    client = clickhouse_connect.get_client(dsn=url)
    if create_database:
        client.command(f"CREATE DATABASE IF NOT EXISTS {settings.clickhouse_database}")
    return client
