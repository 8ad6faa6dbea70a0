"""The Kafka client configuration every client of ours starts from: one place for the
bootstrap servers, TLS and SASL, so a secured cluster needs settings, not code changes."""

from __future__ import annotations

import ssl
from typing import Any

from foundation.logs import LIBRDKAFKA
from foundation.settings import Settings, get_settings


def security_config(settings: Settings | None = None) -> dict[str, Any]:
    """librdkafka's security properties (confluent-kafka producers, consumers, admin), and
    its log lines sent to Python's logging (JSON in every process that configures it)."""
    s = settings or get_settings()
    config: dict[str, Any] = {"security.protocol": s.kafka_security_protocol, "logger": LIBRDKAFKA}
    if s.kafka_security_protocol.startswith("SASL"):
        if not (s.kafka_sasl_username and s.kafka_sasl_password):
            raise ValueError(
                f"WAGERSTREAM_KAFKA_SECURITY_PROTOCOL={s.kafka_security_protocol} needs "
                f"WAGERSTREAM_KAFKA_SASL_USERNAME "
                "and WAGERSTREAM_KAFKA_SASL_PASSWORD (or WAGERSTREAM_KAFKA_SASL_PASSWORD_FILE)"
            )
        config |= {
            "sasl.mechanism": s.kafka_sasl_mechanism,
            "sasl.username": s.kafka_sasl_username,
            "sasl.password": s.kafka_sasl_password,
        }
    if s.kafka_security_protocol.endswith("SSL") and s.kafka_ssl_ca_file:
        config["ssl.ca.location"] = str(s.kafka_ssl_ca_file)
    return config


def client_config(settings: Settings | None = None, **overrides: Any) -> dict[str, Any]:
    """Bootstrap servers plus security, for consumers and admin clients."""
    s = settings or get_settings()
    return {"bootstrap.servers": s.kafka, **security_config(s), **overrides}


def producer_config(
    bootstrap: str, settings: Settings | None = None, **overrides: Any
) -> dict[str, Any]:
    """Idempotent, fully acknowledged, keyed like the rest of the ecosystem.

    Java clients, aiokafka and Faust hash keys with murmur2; librdkafka defaults to crc32.
    Co-partitioning (same player, same partition number on every topic) needs the same hash.
    """
    return {
        "bootstrap.servers": bootstrap,
        **security_config(settings),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "partitioner": "murmur2_random",
        **overrides,
    }


def faust_credentials(settings: Settings | None = None) -> Any:
    """The same settings for Faust (aiokafka): None for PLAINTEXT."""
    import faust

    s = settings or get_settings()
    protocol = s.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = None
    if protocol.endswith("SSL"):
        context = ssl.create_default_context(
            cafile=str(s.kafka_ssl_ca_file) if s.kafka_ssl_ca_file else None
        )
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    security_config(s)  # the same clear error when user or password is missing
    return faust.SASLCredentials(
        username=s.kafka_sasl_username,
        password=s.kafka_sasl_password,
        ssl_context=context,
        mechanism=s.kafka_sasl_mechanism,
    )
