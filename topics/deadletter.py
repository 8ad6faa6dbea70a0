"""Decode an incoming Kafka message, or send its bytes to `dlq.<topic>` with the reason.

A worker never dies on bad input and never drops it silently: the dead-letter record keeps the
original key, value and headers, plus `error`, `source-topic`, `source-partition` and
`source-offset` so an operator can find, fix and replay it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import faust

from topics.catalogue import dlq_topic, spec
from topics.contract import validate
from topics.metrics import DLQ, EVENTS_IN
from topics.serde import AvroSerde, DecodeError, LoadedSchema

log = logging.getLogger(__name__)


def decode_checked(
    serde: AvroSerde, topic: str, value: bytes | None, key: bytes | None, max_skew_ms: int
) -> tuple[LoadedSchema, dict[str, Any]]:
    """Decode, check the schema belongs to the topic, and validate upstream events (the
    contract rules); raises DecodeError naming the first problem. Shared by the workers and
    the ClickHouse sink, so both refuse exactly the same bytes."""
    schema, record = serde.decode(value)
    expected = serde.schema_for(topic)
    if schema.stem != expected.stem:
        raise DecodeError(
            "wrong_schema", f"{schema.full_name} on {topic}, expected {expected.full_name}"
        )
    if spec(topic).upstream:
        validate(record, key, max_skew_ms)
    return schema, record


class Decoder:
    def __init__(self, app: faust.App, serde: AvroSerde, max_skew_ms: int, agent: str) -> None:
        self.app = app
        self.serde = serde
        self.max_skew_ms = max_skew_ms
        self._counted: dict[str, Any] = {}
        self.agent = agent
        self._dlq_topics: dict[str, faust.types.TopicT] = {}

    async def decode(self, event: faust.types.EventT) -> tuple[LoadedSchema, dict[str, Any]] | None:
        """The decoded, validated record; None when it went to the DLQ instead."""
        message = event.message
        counter = self._counted.get(message.topic)
        if counter is None:  # one label lookup per topic, not per event
            counter = self._counted[message.topic] = EVENTS_IN.labels(self.agent, message.topic)
        counter.inc()
        try:
            return decode_checked(
                self.serde, message.topic, message.value, message.key, self.max_skew_ms
            )
        except DecodeError as exc:
            await self.dead_letter(event, exc)
            return None

    async def dead_letter(self, event: faust.types.EventT, error: DecodeError) -> None:
        message = event.message
        topic = self._dlq_topics.get(message.topic)
        if topic is None:
            topic = self._dlq_topics[message.topic] = self.app.topic(dlq_topic(message.topic))
        original = message.headers or []
        if isinstance(original, Mapping):
            original = list(original.items())
        headers = [
            *original,
            ("error", error.reason.encode()),
            ("source-topic", message.topic.encode()),
            ("source-partition", str(message.partition).encode()),
            ("source-offset", str(message.offset).encode()),
        ]
        await topic.send(key=message.key, value=message.value, headers=headers)
        DLQ.labels(message.topic, error.code).inc()
        log.warning(
            "dead-lettered %s[%d]@%d: %s",
            message.topic,
            message.partition,
            message.offset,
            error.reason,
        )
