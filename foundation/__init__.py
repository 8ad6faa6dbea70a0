"""The foundation every process imports: settings, secrets, logs, Kafka client
configuration, time units. It imports nothing of ours."""
