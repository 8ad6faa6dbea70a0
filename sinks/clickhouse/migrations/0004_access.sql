-- access-control: least privilege on a ClickHouse server. The sink writes as wagerstream_sink
-- (role wagerstream_writer: INSERT and SELECT on the marts database, nothing else); analysts get
-- wagerstream_analyst (SELECT only). The password comes from CLICKHOUSE_SINK_PASSWORD and only
-- its SHA-256 reaches the server. The embedded engine (chdb) has no access storage: there these
-- statements are parsed, not run (see sinks/marts.py).
CREATE ROLE IF NOT EXISTS wagerstream_writer;
GRANT SELECT, INSERT ON {db}.* TO wagerstream_writer;
CREATE ROLE IF NOT EXISTS wagerstream_analyst;
GRANT SELECT ON {db}.* TO wagerstream_analyst;
CREATE USER IF NOT EXISTS wagerstream_sink IDENTIFIED WITH sha256_hash BY '{sink_password_sha256}' DEFAULT ROLE wagerstream_writer;
GRANT wagerstream_writer TO wagerstream_sink
