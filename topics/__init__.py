"""The topic catalogue: what every topic carries, how it is keyed, partitioned and retained."""

from topics.catalogue import CATALOGUE, INPUT_TOPICS, TopicSpec, dlq_topic, spec

__all__ = ["CATALOGUE", "INPUT_TOPICS", "TopicSpec", "dlq_topic", "spec"]
