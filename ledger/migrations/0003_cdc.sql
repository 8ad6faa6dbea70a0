-- What the CDC relay reads: a publication of the entries (append-only, so inserts only) and a
-- role that can replicate and read the ledger, nothing more.
CREATE PUBLICATION wagerstream_ledger FOR TABLE ledger.entries WITH (publish = 'insert');

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wagerstream_cdc') THEN
        CREATE ROLE wagerstream_cdc WITH LOGIN REPLICATION;
    END IF;
END $$;
GRANT USAGE ON SCHEMA ledger TO wagerstream_cdc;
GRANT SELECT ON ledger.entries TO wagerstream_cdc;
