"""Produce contract events to Kafka: Avro-encoded, keyed by player, idempotent producer."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException, Producer

from foundation import tracing
from foundation.kafka import producer_config
from topics.serde import AvroSerde


class EventProducer:
    def __init__(self, bootstrap: str, serde: AvroSerde, **config: Any) -> None:
        self.serde = serde
        tracing.setup("wagerstream-loadgen")  # on only with OTEL_EXPORTER_OTLP_ENDPOINT
        self.producer = Producer(producer_config(bootstrap, **config))
        self.errors: list[str] = []

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(f"{msg.topic()}: {err}")

    def send(self, topic: str, record: dict[str, Any]) -> None:
        """One event; traced, it starts the event's trace (its `trace_id`) and carries it in
        a `traceparent` header."""
        key, value = record["player_id"].encode(), self.serde.encode(topic, record)
        if not tracing.ENABLED:
            self.send_raw(topic, key, value)
            return
        with tracing.span(
            f"{topic} publish",
            kind=tracing.SpanKind.PRODUCER,
            trace_id=record.get("trace_id"),
            attributes={"messaging.system": "kafka", "messaging.destination.name": topic,
                        **tracing.event_attributes(record)},
        ) as span:  # fmt: skip
            self.send_raw(topic, key, value, tracing.headers_of(span))

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
