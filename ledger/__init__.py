"""PostgreSQL ledger (double entry, migrations, posting) and the CDC relay into Kafka."""
