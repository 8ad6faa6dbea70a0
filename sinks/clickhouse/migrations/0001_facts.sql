-- Facts, deduplicated by ReplacingMergeTree: a redelivered row has the same sorting key and
-- version as its first copy and replaces it at merge time (read with FINAL or argMax).
-- non_replicated_deduplication_window makes a retried insert with the same
-- insert_deduplication_token a no-op on the embedded engine and on a single server alike.
CREATE TABLE IF NOT EXISTS {db}.ledger_entries
(
    tenant_id           LowCardinality(String),
    entry_id            UInt64,
    transfer_id         String,
    brand_id            LowCardinality(String),
    jurisdiction        LowCardinality(String),
    player_id           String,
    account_kind        LowCardinality(String),
    kind                LowCardinality(String),
    amount_minor        Int64,
    currency            LowCardinality(String),
    balance_after_minor Nullable(Int64),
    idempotency_key     String,
    created_at          DateTime64(3, 'UTC'),
    commit_ts           DateTime64(3, 'UTC'),
    lsn                 UInt64,
    tx_id               UInt64,
    op                  LowCardinality(String)
)
ENGINE = ReplacingMergeTree(lsn)
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, entry_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.bets
(
    tenant_id         LowCardinality(String),
    bet_id            String,
    brand_id          LowCardinality(String),
    jurisdiction      LowCardinality(String),
    player_id         String,
    product           LowCardinality(String),
    provider          LowCardinality(String),
    stake_minor       Int64,
    bonus_stake_minor Int64,
    payout_minor      Nullable(Int64),
    outcome           LowCardinality(Nullable(String)),
    currency          LowCardinality(String),
    placed_at         Nullable(DateTime64(3, 'UTC')),
    settled_at        Nullable(DateTime64(3, 'UTC')),
    event_start_at    Nullable(DateTime64(3, 'UTC')),
    version           UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, bet_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.payments
(
    tenant_id        LowCardinality(String),
    payment_id       String,
    direction        LowCardinality(String),
    status           LowCardinality(String),
    brand_id         LowCardinality(String),
    jurisdiction     LowCardinality(String),
    player_id        String,
    amount_minor     Int64,
    currency         LowCardinality(String),
    method           LowCardinality(String),
    occurred_at      DateTime64(3, 'UTC'),
    version          UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, payment_id, direction, status)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.signals
(
    tenant_id       LowCardinality(String),
    signal_id       String,
    topic           LowCardinality(String),
    code            LowCardinality(String),
    severity        LowCardinality(String),
    brand_id        LowCardinality(String),
    jurisdiction    LowCardinality(String),
    player_id       String,
    value_minor     Nullable(Int64),
    threshold_minor Nullable(Int64),
    window          String,
    evidence        Array(String),
    occurred_at     DateTime64(3, 'UTC'),
    version         UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, signal_id)
SETTINGS non_replicated_deduplication_window = 10000;
