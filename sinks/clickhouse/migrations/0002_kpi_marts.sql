-- KPI marts as plain views over the deduplicated facts (FINAL), never as Summing/Aggregating
-- materialized views over the raw stream: those would count a redelivered row twice. Money
-- comes from the ledger (player legs of ledger_entries); bet counts and settle lag from bets.
--
-- bets gets one row per stage (placed, settled) so that a settlement no longer replaces the
-- placement it belongs to; it held no data before the sink existed, so it is recreated.
DROP TABLE IF EXISTS {db}.bets;

CREATE TABLE {db}.bets
(
    tenant_id         LowCardinality(String),
    bet_id            String,
    stage             LowCardinality(String),
    brand_id          LowCardinality(String),
    jurisdiction      LowCardinality(String),
    player_id         String,
    product           LowCardinality(String),
    provider          LowCardinality(String),
    stake_minor       Int64,
    bonus_stake_minor Int64,
    payout_minor      Int64,
    outcome           LowCardinality(String),
    currency          LowCardinality(String),
    occurred_at       DateTime64(3, 'UTC'),
    event_start_at    Nullable(DateTime64(3, 'UTC')),
    version           UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, bet_id, stage)
SETTINGS non_replicated_deduplication_window = 10000;

-- Duties per jurisdiction in parts per million of a base (ggr or handle); each base is its
-- own column of kpi_daily. Change a rate with INSERT (the newest updated_at wins).
CREATE TABLE IF NOT EXISTS {db}.duty_rates
(
    jurisdiction LowCardinality(String),
    base         LowCardinality(String),
    rate_ppm     UInt32,
    updated_at   DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (jurisdiction, base);

INSERT INTO {db}.duty_rates (jurisdiction, base, rate_ppm) VALUES
    ('UKGC', 'ggr', 210000), ('MGA', 'ggr', 50000), ('SE', 'ggr', 220000),
    ('DE', 'handle', 53000), ('ON', 'ggr', 200000);

-- One row per player and UTC day: the grain every money KPI is summed from.
CREATE VIEW IF NOT EXISTS {db}.player_day AS
SELECT
    d.*,
    d.stakes_minor - d.refunds_minor AS handle_minor,
    d.stakes_minor - d.refunds_minor - d.wins_minor AS ggr_minor,
    intDiv((d.stakes_minor - d.refunds_minor - d.wins_minor) * r.ggr_ppm, 1000000) AS duty_ggr_minor,
    intDiv((d.stakes_minor - d.refunds_minor) * r.handle_ppm, 1000000) AS duty_handle_minor,
    d.stakes_minor - d.refunds_minor - d.wins_minor - d.bonus_cost_minor
        - intDiv((d.stakes_minor - d.refunds_minor - d.wins_minor) * r.ggr_ppm, 1000000)
        - intDiv((d.stakes_minor - d.refunds_minor) * r.handle_ppm, 1000000) AS ngr_minor
FROM
(
    SELECT
        toDate(created_at) AS day, tenant_id, brand_id, jurisdiction, currency, player_id,
        sumIf(-amount_minor, kind IN ('stake', 'bonus_stake')) AS stakes_minor,
        sumIf(amount_minor, kind IN ('win', 'bonus_win')) AS wins_minor,
        sumIf(amount_minor, kind = 'refund') AS refunds_minor,
        sumIf(amount_minor, kind = 'bonus_convert' AND account_kind = 'cash') AS bonus_cost_minor,
        sumIf(amount_minor, kind = 'deposit') AS deposits_minor,
        sumIf(-amount_minor, kind = 'withdrawal') AS withdrawals_minor
    FROM {db}.ledger_entries FINAL
    WHERE account_kind IN ('cash', 'bonus') AND player_id != ''
    GROUP BY day, tenant_id, brand_id, jurisdiction, currency, player_id
) AS d
LEFT JOIN
(
    SELECT jurisdiction, argMaxIf(rate_ppm, updated_at, base = 'ggr') AS ggr_ppm,
           argMaxIf(rate_ppm, updated_at, base = 'handle') AS handle_ppm
    FROM {db}.duty_rates GROUP BY jurisdiction
) AS r ON d.jurisdiction = r.jurisdiction;

-- A player's first deposit (FTD): the cohort every retention and value figure hangs on.
CREATE VIEW IF NOT EXISTS {db}.first_deposits AS
SELECT tenant_id, player_id, min(created_at) AS ftd_at,
       argMin(brand_id, created_at) AS brand_id, argMin(jurisdiction, created_at) AS jurisdiction,
       argMin(currency, created_at) AS currency
FROM {db}.ledger_entries FINAL
WHERE kind = 'deposit' AND account_kind = 'cash' AND player_id != ''
GROUP BY tenant_id, player_id;

-- A bet's placement and settlement side by side.
CREATE VIEW IF NOT EXISTS {db}.bet_lifecycle AS
SELECT tenant_id, bet_id,
       anyIf(brand_id, stage = 'placed') AS brand_id,
       anyIf(jurisdiction, stage = 'placed') AS jurisdiction,
       anyIf(currency, stage = 'placed') AS currency,
       anyIf(product, stage = 'placed') AS product,
       anyIf(provider, stage = 'placed') AS provider,
       maxIf(occurred_at, stage = 'placed') AS placed_at,
       maxIf(occurred_at, stage = 'settled') AS settled_at,
       countIf(stage = 'placed') AS is_placed,
       countIf(stage = 'settled') AS is_settled
FROM {db}.bets FINAL
GROUP BY tenant_id, bet_id;

CREATE VIEW IF NOT EXISTS {db}.kpi_daily AS
SELECT
    day, tenant_id, brand_id, jurisdiction, currency,
    sum(handle_minor) AS handle_minor,
    sum(ggr_minor) AS ggr_minor,
    sum(bonus_cost_minor) AS bonus_cost_minor,
    sum(duty_ggr_minor) AS duty_ggr_minor,
    sum(duty_handle_minor) AS duty_handle_minor,
    sum(ngr_minor) AS ngr_minor,
    sum(deposits_minor) AS deposits_minor,
    sum(withdrawals_minor) AS withdrawals_minor,
    sum(ftd_count) AS ftd_count,
    sum(active_players) AS active_players,
    sum(bets_count) AS bets_count,
    max(settle_lag_p50_ms) AS settle_lag_p50_ms,
    max(settle_lag_p95_ms) AS settle_lag_p95_ms,
    max(settle_lag_p99_ms) AS settle_lag_p99_ms
FROM
(
    SELECT day, tenant_id, brand_id, jurisdiction, currency,
           sum(handle_minor) AS handle_minor, sum(ggr_minor) AS ggr_minor,
           sum(bonus_cost_minor) AS bonus_cost_minor, sum(duty_ggr_minor) AS duty_ggr_minor,
           sum(duty_handle_minor) AS duty_handle_minor, sum(ngr_minor) AS ngr_minor,
           sum(deposits_minor) AS deposits_minor, sum(withdrawals_minor) AS withdrawals_minor,
           toUInt64(0) AS ftd_count, countIf(stakes_minor > 0) AS active_players,
           toUInt64(0) AS bets_count, toInt64(0) AS settle_lag_p50_ms,
           toInt64(0) AS settle_lag_p95_ms, toInt64(0) AS settle_lag_p99_ms
    FROM {db}.player_day
    GROUP BY day, tenant_id, brand_id, jurisdiction, currency
    UNION ALL
    SELECT toDate(ftd_at) AS day, tenant_id, brand_id, jurisdiction, currency,
           0, 0, 0, 0, 0, 0, 0, 0, count(), 0, 0, 0, 0, 0
    FROM {db}.first_deposits
    GROUP BY day, tenant_id, brand_id, jurisdiction, currency
    UNION ALL
    SELECT toDate(placed_at) AS day, tenant_id, brand_id, jurisdiction, currency,
           0, 0, 0, 0, 0, 0, 0, 0, 0, 0, count(), 0, 0, 0
    FROM {db}.bet_lifecycle WHERE is_placed > 0
    GROUP BY day, tenant_id, brand_id, jurisdiction, currency
    UNION ALL
    SELECT toDate(settled_at) AS day, tenant_id, brand_id, jurisdiction, currency,
           0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
           toInt64(quantileExact(0.5)(dateDiff('millisecond', placed_at, settled_at))),
           toInt64(quantileExact(0.95)(dateDiff('millisecond', placed_at, settled_at))),
           toInt64(quantileExact(0.99)(dateDiff('millisecond', placed_at, settled_at)))
    FROM {db}.bet_lifecycle WHERE is_placed > 0 AND is_settled > 0
    GROUP BY day, tenant_id, brand_id, jurisdiction, currency
)
GROUP BY day, tenant_id, brand_id, jurisdiction, currency;

-- D1/D7/D30: share of an FTD-day cohort that staked exactly 1, 7 and 30 days after its FTD.
CREATE VIEW IF NOT EXISTS {db}.retention_cohorts AS
SELECT
    toDate(f.ftd_at) AS cohort_day, f.tenant_id AS tenant_id, f.brand_id AS brand_id,
    count() AS cohort_size,
    countIf(has(a.days, cohort_day + 1)) AS d1_players,
    countIf(has(a.days, cohort_day + 7)) AS d7_players,
    countIf(has(a.days, cohort_day + 30)) AS d30_players,
    round(d1_players / cohort_size, 4) AS d1_rate,
    round(d7_players / cohort_size, 4) AS d7_rate,
    round(d30_players / cohort_size, 4) AS d30_rate
FROM {db}.first_deposits AS f
LEFT JOIN
(
    SELECT tenant_id, player_id, groupUniqArray(day) AS days
    FROM {db}.player_day WHERE stakes_minor > 0 GROUP BY tenant_id, player_id
) AS a ON f.tenant_id = a.tenant_id AND f.player_id = a.player_id
GROUP BY cohort_day, tenant_id, brand_id;

-- ARPPU: NGR of the cohort's first 30 days (FTD day included) per paying player (every
-- cohort member deposited); LTV: NGR to date per cohort player. Integer minor units, floor.
CREATE VIEW IF NOT EXISTS {db}.player_value AS
SELECT
    toDate(f.ftd_at) AS cohort_day, f.tenant_id AS tenant_id, f.brand_id AS brand_id,
    f.currency AS currency,
    count() AS cohort_size,
    countIf(v.deposits > 0) AS paying_players,
    sum(v.ngr_30d) AS ngr_30d_minor,
    sum(v.ngr_all) AS ngr_to_date_minor,
    if(paying_players = 0, 0, intDiv(ngr_30d_minor, paying_players)) AS arppu_minor,
    intDiv(ngr_to_date_minor, cohort_size) AS ltv_minor
FROM {db}.first_deposits AS f
LEFT JOIN
(
    SELECT p.tenant_id AS tenant_id, p.player_id AS player_id,
           sum(p.deposits_minor) AS deposits,
           sumIf(p.ngr_minor, p.day < toDate(ff.ftd_at) + 30) AS ngr_30d,
           sum(p.ngr_minor) AS ngr_all
    FROM {db}.player_day AS p
    INNER JOIN {db}.first_deposits AS ff
        ON p.tenant_id = ff.tenant_id AND p.player_id = ff.player_id
    GROUP BY tenant_id, player_id
) AS v ON f.tenant_id = v.tenant_id AND f.player_id = v.player_id
GROUP BY cohort_day, tenant_id, brand_id, currency
