"""The ClickHouse sink outlives a commit that keeps failing: it logs, the batch is redelivered
later (its rows replace themselves), and the sink goes on, instead of exiting."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from sinks.clickhouse import sink as sink_module
from sinks.clickhouse.sink import MartsSink
from topics.serde import AvroSerde

pytestmark = pytest.mark.integration


def test_a_commit_failing_past_its_retries_is_logged_not_fatal(
    stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = stack.model_copy(update={"app_id": f"wscommit-{uuid.uuid4().hex[:8]}"})
    monkeypatch.setattr(sink_module, "COMMIT_RETRY_S", 2.0)
    sink = MartsSink(settings, None, AvroSerde())  # commit() needs Kafka only
    try:
        # a partition the broker does not have: the broker refuses the commit for good
        # (UNKNOWN_TOPIC_OR_PART is not retriable), and the sink gives up on this commit, not
        # on itself; a retriable error ends the same way after COMMIT_RETRY_S
        missing = TopicPartition(f"no-such-topic-{uuid.uuid4().hex[:8]}", 0, 5)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="sinks.clickhouse.sink"):
            sink.commit([missing])  # returns: no exception
        assert time.monotonic() - started < 30
        gave_up = [r.getMessage() for r in caplog.records if "commit failed" in r.getMessage()]
        assert len(gave_up) == 1, gave_up
        assert (
            "UNKNOWN_TOPIC_OR_PART" in gave_up[0] and "the batch will be redelivered" in gave_up[0]
        )
    finally:
        sink.consumer.close()


def test_a_retriable_commit_failure_gives_up_after_its_retries(
    stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The path a soak's sink died on (NOT_COORDINATOR for over 2 minutes): retried until
    COMMIT_RETRY_S, then given up. The broker's refusal stands in for a coordinator that stays
    away: the test counts it as retriable."""
    settings = stack.model_copy(update={"app_id": f"wscommit-{uuid.uuid4().hex[:8]}"})
    monkeypatch.setattr(sink_module, "COMMIT_RETRY_S", 2.0)
    monkeypatch.setattr(sink_module, "_retriable", lambda exc: True)
    sink = MartsSink(settings, None, AvroSerde())  # commit() needs Kafka only
    try:
        missing = TopicPartition(f"no-such-topic-{uuid.uuid4().hex[:8]}", 0, 5)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="sinks.clickhouse.sink"):
            sink.commit([missing])
        assert 2.0 <= time.monotonic() - started < 60
        gave_up = [r.getMessage() for r in caplog.records if "commit failed" in r.getMessage()]
        assert len(gave_up) == 1 and gave_up[0].startswith("commit failed for 2 s"), gave_up
    finally:
        sink.consumer.close()
