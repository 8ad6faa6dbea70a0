-- Local days: every mart's day is the jurisdiction's own calendar day, the one its regulator
-- and the risk rules use (the time zones of agents/rules/risk.toml, DST included), instead of
-- the UTC day; a jurisdiction not listed falls back to UTC. ClickHouse takes a time zone
-- only as a constant, hence one branch per jurisdiction; tests/unit/test_local_days.py keeps
-- the branches equal to risk.toml. A new jurisdiction needs a new migration replacing the
-- function.
CREATE OR REPLACE FUNCTION {db}_local_day AS (ts, j) -> multiIf(
    j = 'UKGC', toDate(ts, 'Europe/London'),
    j = 'MGA', toDate(ts, 'Europe/Malta'),
    j = 'SE', toDate(ts, 'Europe/Stockholm'),
    j = 'DE', toDate(ts, 'Europe/Berlin'),
    j = 'ON', toDate(ts, 'America/Toronto'),
    toDate(ts, 'UTC')
);

CREATE OR REPLACE VIEW {db}.player_day AS
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
        {db}_local_day(created_at, jurisdiction) AS day, tenant_id, brand_id, jurisdiction, currency, player_id,
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

CREATE OR REPLACE VIEW {db}.kpi_daily AS
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
    SELECT {db}_local_day(ftd_at, jurisdiction) AS day, tenant_id, brand_id, jurisdiction, currency,
           0, 0, 0, 0, 0, 0, 0, 0, count(), 0, 0, 0, 0, 0
    FROM {db}.first_deposits
    GROUP BY day, tenant_id, brand_id, jurisdiction, currency
    UNION ALL
    SELECT {db}_local_day(placed_at, jurisdiction) AS day, tenant_id, brand_id, jurisdiction, currency,
           0, 0, 0, 0, 0, 0, 0, 0, 0, 0, count(), 0, 0, 0
    FROM {db}.bet_lifecycle WHERE is_placed > 0
    GROUP BY day, tenant_id, brand_id, jurisdiction, currency
    UNION ALL
    SELECT {db}_local_day(settled_at, jurisdiction) AS day, tenant_id, brand_id, jurisdiction, currency,
           0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
           toInt64(quantileExact(0.5)(dateDiff('millisecond', placed_at, settled_at))),
           toInt64(quantileExact(0.95)(dateDiff('millisecond', placed_at, settled_at))),
           toInt64(quantileExact(0.99)(dateDiff('millisecond', placed_at, settled_at)))
    FROM {db}.bet_lifecycle WHERE is_placed > 0 AND is_settled > 0
    GROUP BY day, tenant_id, brand_id, jurisdiction, currency
)
GROUP BY day, tenant_id, brand_id, jurisdiction, currency;

-- D1/D7/D30 on local days: a cohort is the players whose first deposit fell on that local day.
CREATE OR REPLACE VIEW {db}.retention_cohorts AS
SELECT
    {db}_local_day(f.ftd_at, f.jurisdiction) AS cohort_day, f.tenant_id AS tenant_id, f.brand_id AS brand_id,
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

-- ARPPU over the first 30 local days (FTD day included); LTV to date.
CREATE OR REPLACE VIEW {db}.player_value AS
SELECT
    {db}_local_day(f.ftd_at, f.jurisdiction) AS cohort_day, f.tenant_id AS tenant_id, f.brand_id AS brand_id,
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
           sumIf(p.ngr_minor, p.day < {db}_local_day(ff.ftd_at, ff.jurisdiction) + 30) AS ngr_30d,
           sum(p.ngr_minor) AS ngr_all
    FROM {db}.player_day AS p
    INNER JOIN {db}.first_deposits AS ff
        ON p.tenant_id = ff.tenant_id AND p.player_id = ff.player_id
    GROUP BY tenant_id, player_id
) AS v ON f.tenant_id = v.tenant_id AND f.player_id = v.player_id
GROUP BY cohort_day, tenant_id, brand_id, currency
