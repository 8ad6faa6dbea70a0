"""ClickHouse: fact rows, DDL migrations, the sink process and its query endpoint."""
