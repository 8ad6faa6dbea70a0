-- When each ledger entry became visible to the marts: freshness (commit_ts → inserted_at) is a
-- query, for the benchmark and for analysts asking how current a figure is.
ALTER TABLE {db}.ledger_entries ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') DEFAULT now64(3);

CREATE VIEW IF NOT EXISTS {db}.marts_freshness AS
SELECT toStartOfMinute(commit_ts) AS minute, count() AS entries,
       quantileExact(0.5)(dateDiff('millisecond', commit_ts, inserted_at)) AS p50_ms,
       quantileExact(0.99)(dateDiff('millisecond', commit_ts, inserted_at)) AS p99_ms,
       max(dateDiff('millisecond', commit_ts, inserted_at)) AS max_ms
FROM {db}.ledger_entries
WHERE op != 'r'
GROUP BY minute
