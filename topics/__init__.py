"""The wire: the topic catalogue (what every topic carries, how it is keyed, partitioned and
retained), Avro serde, contract checks, decoding with dead-letter reasons, schema
compatibility, topic admin and consumer lag."""

from topics.catalogue import CATALOGUE, INPUT_TOPICS, TopicSpec, dlq_topic, spec

__all__ = ["CATALOGUE", "INPUT_TOPICS", "TopicSpec", "dlq_topic", "spec"]
