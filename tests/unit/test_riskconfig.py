"""The risk configuration: layering, FX in integer minor units, clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agents.rules.config import DEFAULT_FILE, ConfigError, RiskConfig, load


def _raw() -> dict:
    return tomllib.loads(DEFAULT_FILE.read_text())


def test_tenant_override_beats_jurisdiction_beats_default() -> None:
    raw = _raw()
    raw["tenant"] = {"acme": {"jurisdiction": {"UKGC": {"rg": {"financial_vulnerability": {
        "net_deposits": {"amount_minor": 10000, "currency": "GBP"}}}}}}}  # fmt: skip
    config = RiskConfig(raw)
    assert (
        config.rules("acme", "UKGC").rg.financial_vulnerability.net_deposits.amount_minor == 10000
    )
    assert (
        config.rules("other", "UKGC").rg.financial_vulnerability.net_deposits.amount_minor == 15000
    )
    assert config.rules("acme", "UKGC").rg.financial_vulnerability.enabled is True  # kept
    assert config.rules("acme", "MGA").rg.financial_vulnerability.enabled is False
    assert config.rules("x", "SE").limits.increase_cooling_hours == 72
    assert config.rules("x", "XX").timezone == "UTC"  # unknown jurisdiction: defaults


def test_fx_converts_in_integer_minor_units_half_even() -> None:
    fx = RiskConfig(_raw()).fx
    assert fx.convert(174000, "GBP", "EUR") == 200100  # 1,740.00 x 1.15
    assert fx.convert(100, "EUR", "GBP") == 87  # 86.96 → 87
    assert fx.convert(250, "EUR", "EUR") == 250
    with pytest.raises(ConfigError, match="no FX rate for XAU"):
        fx.convert(1, "XAU", "EUR")


def test_a_typo_is_an_error_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "risk.toml"
    bad.write_text(DEFAULT_FILE.read_text().replace("stuck_after_hours", "stuck_after_hour"))
    with pytest.raises(ConfigError, match="stuck_after_hour"):
        load(bad)
    with pytest.raises(ConfigError, match="not found: set WAGERSTREAM_RISK_CONFIG"):
        load(tmp_path / "missing.toml")
    zone = tmp_path / "zone.toml"
    zone.write_text(DEFAULT_FILE.read_text().replace("Europe/Malta", "Europe/Atlantis"))
    with pytest.raises(ConfigError, match="MGA"):
        load(zone)
