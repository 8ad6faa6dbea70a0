-- The relay's own bookkeeping, created here rather than by the relay, so that the relay's role
-- (wagerstream_cdc) needs no CREATE right: it replicates, reads ledger.entries, and records in
-- cdc.relay_state which slots finished their snapshot. Nothing else.
CREATE SCHEMA IF NOT EXISTS cdc;
CREATE TABLE IF NOT EXISTS cdc.relay_state (
    slot text PRIMARY KEY,
    snapshot_lsn pg_lsn NOT NULL,
    snapshot_rows bigint NOT NULL,
    completed_at timestamptz NOT NULL DEFAULT now()
);
GRANT USAGE ON SCHEMA cdc TO wagerstream_cdc;
GRANT SELECT, INSERT, DELETE ON cdc.relay_state TO wagerstream_cdc;
REVOKE ALL ON SCHEMA ledger FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- Functions are executable by PUBLIC by default; only the ledger's owner posts transfers.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA ledger FROM PUBLIC;
