-- Reporting currency: kpi_daily keeps each row in its own currency; kpi_daily_reporting rolls
-- every currency of a day, brand and jurisdiction up into one reporting currency through a
-- dated FX table analysts can extend (a rate applies from its valid_from until a newer one).
-- Rates are EUR per unit of the currency (the risk rules' [fx] table, agents/rules/risk.toml,
-- seeds them); conversion is integer minor units with banker's rounding, as in the rules.
CREATE TABLE IF NOT EXISTS {db}.fx_rates
(
    currency     LowCardinality(String),
    valid_from   Date,
    eur_per_unit Decimal(18, 9),
    minor_units  UInt8 DEFAULT 2,
    updated_at   DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (currency, valid_from);

INSERT INTO {db}.fx_rates (currency, valid_from, eur_per_unit, minor_units) VALUES
    ('EUR', '2000-01-01', 1, 2),
    ('GBP', '2000-01-01', 1.15, 2),
    ('SEK', '2000-01-01', 0.087, 2),
    ('CAD', '2000-01-01', 0.68, 2),
    ('USD', '2000-01-01', 0.92, 2),
    ('NOK', '2000-01-01', 0.085, 2),
    ('DKK', '2000-01-01', 0.134, 2),
    ('CHF', '2000-01-01', 1.05, 2);

-- The reporting currency: one row, set by `wagerstream marts migrate` from
-- WAGERSTREAM_REPORTING_CURRENCY (the newest row wins).
CREATE TABLE IF NOT EXISTS {db}.reporting_currency
(
    currency   LowCardinality(String),
    updated_at DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY tuple();

-- amount in minor units of a currency at rate src (EUR per unit, minor units src_mu) → minor
-- units of the currency at rate dst; NULL when either rate is unknown (never a silent 0).
CREATE OR REPLACE FUNCTION {db}_to_reporting AS (amount, src, src_mu, dst, dst_mu) -> if(
    src = 0 OR dst = 0, NULL,
    toInt64(roundBankers(
        toDecimal128(toInt128(amount) * toInt128(src * 1000000000) * intExp10(dst_mu), 6)
        / toDecimal128(toInt128(dst * 1000000000) * intExp10(src_mu), 0), 0)));

CREATE OR REPLACE VIEW {db}.kpi_daily_reporting AS
SELECT
    k.day AS day, k.tenant_id AS tenant_id, k.brand_id AS brand_id,
    k.jurisdiction AS jurisdiction, any(rep.currency) AS reporting_currency,
    sum({db}_to_reporting(k.handle_minor, s.eur_per_unit, s.minor_units, t.eur_per_unit, t.minor_units)) AS handle_minor,
    sum({db}_to_reporting(k.ggr_minor, s.eur_per_unit, s.minor_units, t.eur_per_unit, t.minor_units)) AS ggr_minor,
    sum({db}_to_reporting(k.bonus_cost_minor, s.eur_per_unit, s.minor_units, t.eur_per_unit, t.minor_units)) AS bonus_cost_minor,
    sum({db}_to_reporting(k.duty_ggr_minor + k.duty_handle_minor, s.eur_per_unit, s.minor_units, t.eur_per_unit, t.minor_units)) AS duty_minor,
    sum({db}_to_reporting(k.ngr_minor, s.eur_per_unit, s.minor_units, t.eur_per_unit, t.minor_units)) AS ngr_minor,
    sum({db}_to_reporting(k.deposits_minor, s.eur_per_unit, s.minor_units, t.eur_per_unit, t.minor_units)) AS deposits_minor,
    sum({db}_to_reporting(k.withdrawals_minor, s.eur_per_unit, s.minor_units, t.eur_per_unit, t.minor_units)) AS withdrawals_minor,
    sum(k.ftd_count) AS ftd_count,
    sum(k.active_players) AS active_players,
    sum(k.bets_count) AS bets_count,
    groupUniqArray(k.currency) AS currencies,
    groupUniqArrayIf(k.currency, s.eur_per_unit = 0 OR t.eur_per_unit = 0) AS unconverted_currencies
FROM {db}.kpi_daily AS k
CROSS JOIN (SELECT argMax(currency, updated_at) AS currency FROM {db}.reporting_currency) AS rep
ASOF LEFT JOIN (SELECT * FROM {db}.fx_rates FINAL) AS s
    ON k.currency = s.currency AND k.day >= s.valid_from
ASOF LEFT JOIN (SELECT * FROM {db}.fx_rates FINAL) AS t
    ON rep.currency = t.currency AND k.day >= t.valid_from
GROUP BY day, tenant_id, brand_id, jurisdiction
