"""Where results leave the pipeline: Redis read models, ClickHouse marts, Prometheus metrics."""
