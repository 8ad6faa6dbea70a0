-- access-control: the analysts' login on a ClickHouse server, wagerstream_reader, with the
-- read-only role of 0004 (SELECT on the marts database, nothing else). Its password comes from
-- WAGERSTREAM_CLICKHOUSE_ANALYST_PASSWORD and only its SHA-256 reaches the server. On the
-- embedded engine (no access storage) these statements are parsed, not run.
CREATE USER IF NOT EXISTS wagerstream_reader IDENTIFIED WITH sha256_hash BY '{analyst_password_sha256}' DEFAULT ROLE wagerstream_analyst;
GRANT wagerstream_analyst TO wagerstream_reader
