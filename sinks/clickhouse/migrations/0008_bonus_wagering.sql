-- Bonus wagering: every change of a bonus from bonus.wagering (agents/rules/wagering.py), one
-- row per bonus kept (the highest revision; a replay re-sends the same revision), and the
-- analysts' mart over it: progress, what is left, the grant's local day.
CREATE TABLE IF NOT EXISTS {db}.bonus_progress
(
    tenant_id      LowCardinality(String),
    bonus_id       String,
    brand_id       LowCardinality(String),
    jurisdiction   LowCardinality(String),
    player_id      String,
    currency       LowCardinality(String),
    bonus_minor    Int64,
    multiplier     UInt32,
    required_minor Int64,
    wagered_minor  Int64,
    status         LowCardinality(String),
    granted_at     DateTime64(3, 'UTC'),
    updated_at     DateTime64(3, 'UTC'),
    revision       UInt32
)
ENGINE = ReplacingMergeTree(revision)
ORDER BY (tenant_id, bonus_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE OR REPLACE VIEW {db}.bonus_wagering AS
SELECT
    {db}_local_day(granted_at, jurisdiction) AS day,
    tenant_id, brand_id, jurisdiction, currency, player_id, bonus_id, status,
    bonus_minor, multiplier, required_minor, wagered_minor,
    required_minor - wagered_minor AS remaining_minor,
    if(required_minor = 0, 1000000, intDiv(wagered_minor * 1000000, required_minor)) AS progress_ppm,
    granted_at, updated_at
FROM {db}.bonus_progress FINAL
