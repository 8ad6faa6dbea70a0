"""The one producer configuration every confluent-kafka producer of ours starts from."""

from __future__ import annotations

from typing import Any


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Idempotent, fully acknowledged, keyed like the rest of the ecosystem.

    Java clients, aiokafka and Faust hash keys with murmur2; librdkafka defaults to crc32.
    Co-partitioning (same player, same partition number on every topic) needs the same hash.
    """
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "partitioner": "murmur2_random",
        **overrides,
    }
