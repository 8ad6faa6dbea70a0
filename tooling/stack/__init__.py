"""The local stack of real services (Kafka KRaft from Maven Central, PostgreSQL, Redis),
started in a folder of the project."""
