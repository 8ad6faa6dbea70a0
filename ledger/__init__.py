"""PostgreSQL ledger (double entry) and the CDC relay into Kafka."""
