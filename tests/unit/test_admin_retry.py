"""Admin calls outlast a broker that is still electing leaders; real errors still surface."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from topics.admin import _retrying


def test_not_leader_while_leaders_are_elected_is_waited_out() -> None:
    answers = [KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, None]

    def call() -> int:
        code = answers.pop(0)
        if code is not None:
            raise KafkaException(KafkaError(code))
        return 42

    assert _retrying(call) == 42
    assert answers == []


def test_a_coordinator_still_loading_is_waited_out() -> None:
    """A broker just started: a group's first commit (a test's `start_group_at_end`) got
    COORDINATOR_LOAD_IN_PROGRESS, which librdkafka does not flag retriable there."""
    answers = [KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.NOT_COORDINATOR, None]

    def call() -> str:
        code = answers.pop(0)
        if code is not None:
            raise KafkaException(KafkaError(code, retriable=False))
        return "committed"

    assert _retrying(call) == "committed"
    assert answers == []


def test_an_error_that_waiting_cannot_fix_is_raised_at_once() -> None:
    calls = []

    def call() -> int:
        calls.append(1)
        raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))

    with pytest.raises(KafkaException):
        _retrying(call)
    assert len(calls) == 1
