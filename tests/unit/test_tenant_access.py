"""A white-label tenant's analyst login: the exact statements a server gets, and names that
cannot become a role refused in one line."""

from __future__ import annotations

import hashlib

import pytest

from sinks.clickhouse.access import AccessError, tenant_statements


def test_a_tenant_analyst_gets_select_and_a_restrictive_policy_on_every_fact() -> None:
    digest = hashlib.sha256(b"s3cret").hexdigest()
    assert tenant_statements("wagerstream", "acme-1", "acme_bi", "s3cret") == [
        "CREATE ROLE IF NOT EXISTS `wagerstream_tenant_acme-1`",
        "GRANT SELECT ON wagerstream.* TO `wagerstream_tenant_acme-1`",
        "CREATE ROW POLICY IF NOT EXISTS `wagerstream_tenant_acme-1_rows` ON "
        "wagerstream.ledger_entries, wagerstream.bets, wagerstream.payments, wagerstream.signals, "
        "wagerstream.bonus_progress AS RESTRICTIVE FOR SELECT USING tenant_id = 'acme-1' "
        "TO `wagerstream_tenant_acme-1`",
        f"CREATE USER IF NOT EXISTS `acme_bi` IDENTIFIED WITH sha256_hash BY '{digest}' "
        "DEFAULT ROLE `wagerstream_tenant_acme-1`",
        "GRANT `wagerstream_tenant_acme-1` TO `acme_bi`",
    ]


@pytest.mark.parametrize(
    ("tenant", "user", "password", "message"),
    [
        ("a'; DROP TABLE x", "bi", "p", 'tenant "a\'; DROP TABLE x" cannot name a ClickHouse role'),
        ("acme", "bi user", "p", "user 'bi user' cannot name a ClickHouse role"),
        ("acme", "bi", "", "the tenant analyst's password is empty"),
    ],
)
def test_names_that_cannot_be_roles_are_refused(
    tenant: str, user: str, password: str, message: str
) -> None:
    with pytest.raises(AccessError) as refused:
        tenant_statements("wagerstream", tenant, user, password)
    assert str(refused.value).startswith(message)
