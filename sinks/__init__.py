"""Where results leave the pipeline: Redis read models (`read_models`, `redis_models`) and
ClickHouse (`clickhouse/`), each with its metrics."""
