"""Topic admin with confluent-kafka: the catalogue's topics created idempotently, a group's
lag, and a new group started at the end of the topics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka.admin import AdminClient, NewTopic
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from foundation.kafka import security_config
from topics.catalogue import CATALOGUE

T = TypeVar("T")


@dataclass
class TopicReport:
    created: list[str]
    existing: list[str]
    mismatched: list[str]  # wrong partition count: co-partitioning would break


class TopicError(RuntimeError):
    pass


def create_topics(bootstrap: str, partitions: int, replication: int) -> TopicReport:
    admin = AdminClient({**security_config(), "bootstrap.servers": bootstrap})
    try:
        metadata = admin.list_topics(timeout=10)
    except Exception as exc:
        raise TopicError(
            f"cannot reach Kafka at {bootstrap}: {exc}. Fix: `wagerstream stack up`, "
            f"or set WAGERSTREAM_KAFKA_BOOTSTRAP_SERVERS."
        ) from exc
    existing = metadata.topics
    missing = [
        NewTopic(t.name, partitions, replication, config=t.topic_config())
        for t in CATALOGUE.values()
        if t.name not in existing
    ]
    mismatched = [
        f"{name}: {len(existing[name].partitions)} partitions, expected {partitions}"
        for name, t in CATALOGUE.items()
        if name in existing and t.player_keyed and len(existing[name].partitions) != partitions
    ]
    created: list[str] = []
    if missing:
        for name, future in admin.create_topics(missing, request_timeout=30).items():
            try:
                future.result()
                created.append(name)
            except Exception as exc:  # a concurrent creator won the race: that is fine
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise TopicError(f"creating {name} failed: {exc}") from exc
    return TopicReport(
        created=sorted(created),
        existing=sorted(n for n in CATALOGUE if n in existing),
        mismatched=mismatched,
    )


def create_changelogs(
    bootstrap: str, names: list[str], partitions: int, replication: int
) -> list[str]:
    """Create table changelog topics before the worker starts. Faust creates them itself,
    lazily, and on a fresh cluster an agent can read the metadata before its table's
    changelog exists, crash with PartitionsMismatch ('changelog has 0 partitions') and keep
    crashing on the stale metadata (seen on a clean machine). Existing topics are left alone."""
    admin = AdminClient({**security_config(), "bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=10).topics
    missing = [
        NewTopic(name, partitions, replication, config={"cleanup.policy": "compact"})
        for name in names
        if name not in existing
    ]
    created = []
    for name, future in (
        admin.create_topics(missing, request_timeout=30) if missing else {}
    ).items():
        try:
            future.result()
            created.append(name)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise TopicError(f"creating {name} failed: {exc}") from exc
    return created


def consumer_lag(bootstrap: str, group: str, topics: tuple[str, ...], partitions: int) -> int:
    """Events on `topics` the group has not committed yet (from the earliest offset if none):
    committed offsets and watermarks, the broker's public view of a group."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**security_config(), "bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        lag = 0
        for tp in _retrying(lambda: consumer.committed(tps, timeout=10)):
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            lag += high - (tp.offset if tp.offset >= 0 else low)
        return lag
    finally:
        consumer.close()


Offsets = dict[tuple[str, int], int]  # (topic, partition) → offset


def watermarks(
    bootstrap: str, topics: tuple[str, ...], partitions: int
) -> dict[tuple[str, int], tuple[int, int]]:
    """(low, high) of every partition: what is retained, and where a group starting now
    would begin."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**security_config(), "bootstrap.servers": bootstrap, "group.id": "-"})
    try:
        return {
            (t, p): _retrying(
                lambda t=t, p=p: consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)
            )
            for t in topics
            for p in range(partitions)
        }
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topics: tuple[str, ...], partitions: int) -> Offsets:
    return {tp: high for tp, (_, high) in watermarks(bootstrap, topics, partitions).items()}


def commit_group(bootstrap: str, group: str, offsets: Offsets, only_if_new: bool = False) -> bool:
    """Commit `offsets` for `group`, so its first member starts exactly there (and, unlike
    `auto.offset.reset`, a member killed before its own first commit resumes from there too).
    With `only_if_new`, a group that has committed anything is left where it is; returns
    whether it committed."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**security_config(), "bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(t, p, offset) for (t, p), offset in offsets.items()]
        if only_if_new:
            committed = _retrying(lambda: consumer.committed(tps, timeout=10))
            if any(tp.offset >= 0 for tp in committed):
                return False
        _retrying(lambda: consumer.commit(offsets=tps, asynchronous=False))
        return True
    finally:
        consumer.close()


def start_group_at_end(
    bootstrap: str,
    group: str,
    topics: tuple[str, ...],
    partitions: int,
    only_if_new: bool = False,
) -> int:
    """Start a group that has no offsets yet with what is produced from now on (see
    `commit_group`). Returns the retained events it skips (0 if it was left alone)."""
    marks = watermarks(bootstrap, topics, partitions)
    ends = {tp: high for tp, (_, high) in marks.items()}
    if not commit_group(bootstrap, group, ends, only_if_new):
        return 0
    return sum(high - low for low, high in marks.values())


def _retrying(call: Callable[[], T]) -> T:
    """`call`, again while Kafka answers with a retriable error: a broker just started has no
    group coordinator for a few seconds (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS)."""
    from confluent_kafka import KafkaError, KafkaException

    # answers of a broker just started, or still electing leaders for topics just created:
    # librdkafka does not flag all of them retriable for a one-off commit or watermark query
    settling = {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
    }

    def retriable(exc: BaseException) -> bool:
        if not isinstance(exc, KafkaException):
            return False
        error = exc.args[0]
        return bool(error.retriable()) or error.code() in settling

    for attempt in Retrying(
        retry=retry_if_exception(retriable),
        stop=stop_after_delay(60),
        wait=wait_exponential(multiplier=0.2, max=2),
        reraise=True,
    ):
        with attempt:
            return call()
    raise AssertionError("unreachable")
