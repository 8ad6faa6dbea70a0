"""Produce contract events to Kafka: Avro-encoded, keyed by player, idempotent producer."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException, Producer

from foundation.kafka import producer_config
from topics.serde import AvroSerde


class EventProducer:
    def __init__(self, bootstrap: str, serde: AvroSerde, **config: Any) -> None:
        self.serde = serde
        self.producer = Producer(producer_config(bootstrap, **config))
        self.errors: list[str] = []

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(f"{msg.topic()}: {err}")

    def send(self, topic: str, record: dict[str, Any]) -> None:
        self.send_raw(topic, record["player_id"].encode(), self.serde.encode(topic, record))

    def send_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        while True:
            try:
                self.producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery
                )
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                self.producer.poll(0.1)
        self.producer.poll(0)

    def flush(self, timeout: float = 60) -> None:
        remaining = self.producer.flush(timeout)
        if remaining or self.errors:
            raise KafkaException(f"{remaining} messages undelivered; errors: {self.errors[:5]}")
