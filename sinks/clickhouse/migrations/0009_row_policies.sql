-- access-control: row policies for white-label tenants on a ClickHouse server. Once a table
-- has a row policy, ClickHouse shows a user only the rows some policy grants, so this
-- permissive all-rows policy keeps every existing user (sink, analysts, admin) seeing what it
-- saw before. `wagerstream marts tenant-analyst` adds a restrictive policy per tenant role
-- (tenant_id = the tenant), which ClickHouse ANDs with this one for that role's users. Views
-- read their tables as the querying user, so the marts are filtered the same way. On the
-- embedded engine (no access storage) these statements are parsed, not run.
CREATE ROW POLICY IF NOT EXISTS wagerstream_all_rows ON {db}.ledger_entries, {db}.bets, {db}.payments, {db}.signals, {db}.bonus_progress AS PERMISSIVE FOR SELECT USING 1 TO ALL
