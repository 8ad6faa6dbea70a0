"""Least privilege of the service roles, checked against the real services."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import redis

from foundation.secrets import redact
from foundation.settings import Settings


def test_cdc_role_can_replicate_and_read_entries_and_nothing_else(
    ledger_dsn: str, stack: Settings
) -> None:
    with psycopg.connect(ledger_dsn) as owner:
        grants = set(
            owner.execute(
                "SELECT table_schema, table_name, privilege_type"
                " FROM information_schema.role_table_grants WHERE grantee = 'wagerstream_cdc'"
            ).fetchall()
        )
        attributes = owner.execute(
            "SELECT rolreplication, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls"
            " FROM pg_roles WHERE rolname = 'wagerstream_cdc'"
        ).fetchone()
    assert grants == {
        ("ledger", "entries", "SELECT"),
        ("cdc", "relay_state", "SELECT"),
        ("cdc", "relay_state", "INSERT"),
        ("cdc", "relay_state", "DELETE"),
    }
    assert attributes == (True, False, False, False, False)

    refused = [
        "INSERT INTO ledger.entries SELECT * FROM ledger.entries WHERE false",
        "UPDATE ledger.entries SET amount_minor = 0",
        "DELETE FROM ledger.entries",
        "SELECT * FROM ledger.accounts",
        "SELECT * FROM ledger.transfers",
        "SELECT * FROM ledger.post_transfer('k', 'deposit', 't', 'b', 'p', 'GBP', 1)",
        "CREATE TABLE cdc.extra (x int)",
        "CREATE TABLE public.extra (x int)",
        "CREATE SCHEMA extra",
    ]
    with psycopg.connect(stack.cdc_postgres, autocommit=True) as cdc:
        assert cdc.execute("SELECT current_user").fetchone() == ("wagerstream_cdc",)
        cdc.execute("SELECT count(*) FROM ledger.entries").fetchone()
        for statement in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                cdc.execute(statement)


def test_redis_user_reaches_only_read_model_keys(stack: Settings) -> None:
    client = redis.Redis.from_url(stack.redis, decode_responses=True)
    key = f"{stack.redis_prefix}:lp-{uuid.uuid4().hex[:8]}:bets:p1"
    client.hset(key, "open_count", 1)
    sha = client.script_load("return redis.call('HSET', KEYS[1], 'open_count', 2)")
    assert client.evalsha(sha, 1, key) == 0  # field existed: HSET adds none
    assert client.hgetall(key) == {"open_count": "2"}
    client.delete(key)
    refused = {
        "a key outside the prefix": lambda: client.hset("other:p1", "x", 1),
        "a script on a key outside": lambda: client.evalsha(sha, 1, "other:p1"),
        "KEYS": lambda: client.keys("*"),
        "FLUSHALL": lambda: client.flushall(),
        "CONFIG": lambda: client.config_get("*"),
        "SCRIPT FLUSH": lambda: client.script_flush(),
        "ACL": lambda: client.acl_list(),
    }
    for what, call in refused.items():
        with pytest.raises(redis.exceptions.NoPermissionError):
            call()
            pytest.fail(f"{what} was allowed")
    assert "***" in redact(stack.redis) and stack.redis.split("@")[0].split(":")[-1] not in redact(
        stack.redis
    )
