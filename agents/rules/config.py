"""Thresholds of the risk rules, per jurisdiction and tenant, from one TOML file.

Regulators set the numbers (Sweden's 72 h cooling-off, Germany's EUR 1,000 cap, the UK's
GBP 150 check) and operators tighten them per brand, so they live in data, not code: the
packaged `agents/rules/risk.toml`, or the file named by WAGERSTREAM_RISK_CONFIG. The file is
validated on load
(pydantic) so a typo is an error naming the key, not a rule that silently never fires.
Money thresholds carry their currency; `Fx.convert` brings an event's amount into it with
integer minor units and one rounding (half-even), never a float.
"""

from __future__ import annotations

import tomllib
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, ValidationError

DEFAULT_FILE = Path(__file__).with_name("risk.toml")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Money(Strict):
    amount_minor: int
    currency: str


class Cap(Money):
    type: Literal["deposit", "loss", "wager", "session_time"]
    period: Literal["day", "week", "month"]


class Limits(Strict):
    increase_cooling_hours: int
    increase_waits_for_period_end: bool
    caps: list[Cap] = []


class FinancialVulnerability(Strict):
    enabled: bool
    net_deposits: Money
    days: int


class LossChasing(Strict):
    balance_share: Decimal
    within_minutes: int


class DepositEscalation(Strict):
    factor: Decimal
    min_deposits: int
    baseline_days: int


class StakeEscalation(Strict):
    factor: Decimal
    history: int
    min_history: int
    times: int
    within_minutes: int


class NightPlay(Strict):
    start_hour: int
    end_hour: int
    share: Decimal


class LongSession(Strict):
    hours: Decimal


class WithdrawalReversal(Strict):
    within_hours: int
    share: Decimal


class FailedDeposits(Strict):
    count: int
    within_minutes: int


class Rg(Strict):
    marker_ttl_days: int
    weights: dict[str, int]
    financial_vulnerability: FinancialVulnerability
    loss_chasing: LossChasing
    deposit_escalation: DepositEscalation
    stake_escalation: StakeEscalation
    night_play: NightPlay
    long_session: LongSession
    withdrawal_reversal: WithdrawalReversal
    failed_deposits: FailedDeposits


class Structuring(Strict):
    min_deposits: int
    low_share: Decimal
    within_hours: int


class RapidInOut(Strict):
    turnover_share: Decimal
    within_hours: int
    grace_wall_seconds: int


class Velocity(Strict):
    deposits: int
    within_minutes: int


class SharedInstrument(Strict):
    players: int
    days: int


class Aml(Strict):
    threshold: Money
    linked_hours: int
    alert_ttl_days: int
    structuring: Structuring
    rapid_in_out: RapidInOut
    velocity: Velocity
    shared_instrument: SharedInstrument


class Settlement(Strict):
    stuck_after_hours: Decimal


PRODUCTS = ("sportsbook", "casino", "live_casino", "poker")


class Wagering(Strict):
    """A bonus's wagering terms: the requirement is `multiplier` x the bonus; a stake counts
    `contribution_pct` of itself by product (a product left out counts nothing)."""

    multiplier: int
    contribution_pct: dict[Literal["sportsbook", "casino", "live_casino", "poker"], int]
    late_grant_minutes: int


class RuleConfig(Strict):
    """Everything one (tenant, jurisdiction) pair's rules need."""

    timezone: str
    limits: Limits
    rg: Rg
    aml: Aml
    settlement: Settlement
    wagering: Wagering

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class ConfigError(ValueError):
    """The risk configuration cannot be used; the message names the key and the file."""


class Fx:
    """Integer currency conversion through EUR rates; unknown currencies are a clear error."""

    def __init__(self, rates: dict[str, str], minor_units: dict[str, int]) -> None:
        self.rates = {code: Decimal(rate) for code, rate in rates.items()}
        self.minor_units = minor_units

    def convert(self, amount_minor: int, currency: str, to: str) -> int:
        if currency == to:
            return amount_minor
        for code in (currency, to):
            if code not in self.rates:
                raise ConfigError(f"no FX rate for {code}: add it under [fx] in the risk config")
        scale = Decimal(10) ** (self.minor_units.get(to, 2) - self.minor_units.get(currency, 2))
        value = Decimal(amount_minor) * self.rates[currency] / self.rates[to] * scale
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class RiskConfig:
    """The parsed file; `rules(tenant, jurisdiction)` is cached, so lookups per event are free."""

    def __init__(self, raw: dict[str, Any], source: str = "<memory>") -> None:
        self.raw = raw
        self.source = source
        self.fx = Fx(raw.get("fx", {}), raw.get("minor_units", {}))
        self._cache: dict[tuple[str, str], RuleConfig] = {}
        # the regulator's ceiling on a wagering requirement, per jurisdiction; no tenant layer
        # can raise it (UKGC: 10x from 19 January 2026)
        self.wagering_caps: dict[str, int] = dict(raw.get("wagering_caps", {}))
        # fail at load, not mid-stream: every pair the file names is resolved once
        jurisdictions = ("", *raw.get("jurisdiction", {}))
        tenants = {"": {}, **raw.get("tenant", {})}
        for tenant, layers in tenants.items():
            for jurisdiction in (*jurisdictions, *layers.get("jurisdiction", {})):
                self.rules(tenant, jurisdiction)

    def rules(self, tenant: str, jurisdiction: str) -> RuleConfig:
        found = self._cache.get((tenant, jurisdiction))
        if found is not None:
            return found
        tenant_raw = self.raw.get("tenant", {}).get(tenant, {})
        layers = [
            self.raw.get("default", {}),
            self.raw.get("jurisdiction", {}).get(jurisdiction, {}),
            tenant_raw.get("default", {}),
            tenant_raw.get("jurisdiction", {}).get(jurisdiction, {}),
        ]
        merged: dict[str, Any] = {}
        for layer in layers:
            merged = _merge(merged, layer)
        try:
            config = RuleConfig.model_validate(merged)
            config.tz  # noqa: B018 - an unknown time zone fails here
        except (ValidationError, Exception) as exc:
            raise ConfigError(
                f"risk config {self.source} for tenant {tenant!r}, jurisdiction "
                f"{jurisdiction!r} is invalid: {exc}"
            ) from None
        cap = self.wagering_caps.get(jurisdiction)
        if cap is not None and config.wagering.multiplier > cap:
            raise ConfigError(
                f"risk config {self.source} for tenant {tenant!r}, jurisdiction "
                f"{jurisdiction!r}: wagering.multiplier {config.wagering.multiplier} is above "
                f"the jurisdiction's cap of {cap} ([wagering_caps]): lower it to {cap} or less"
            )
        self._cache[(tenant, jurisdiction)] = config
        return config


def load(path: Path | None = None) -> RiskConfig:
    path = path or DEFAULT_FILE
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"risk config {path} not found: set WAGERSTREAM_RISK_CONFIG to a file"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"risk config {path} is not valid TOML: {exc}") from None
    return RiskConfig(raw, str(path))


@cache
def default() -> RiskConfig:
    return load(DEFAULT_FILE)
