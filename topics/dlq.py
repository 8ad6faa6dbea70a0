"""Dead letters on the broker: read them, sum them up per topic and reason, and replay a
selection to its source topic once what refused them is fixed.

A dead letter (topics.deadletter) keeps the original key, value and headers plus `error`,
`source-topic`, `source-partition` and `source-offset`. Reading never joins a consumer group
(every partition is assigned from its start and read to its high-water mark), so looking at
the DLQ moves nothing. A replay sends the original key, value and headers back, with a
`replayed-from` header naming the dead letter; it checks first that the bytes now pass the
same decode and contract checks the worker runs, so a replay cannot feed the DLQ again. The
worker is idempotent (event ids remembered, bets by bet_id, versioned read models), so a dead
letter replayed twice, or one whose event did arrive meanwhile, changes nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from foundation.kafka import client_config, producer_config
from topics.catalogue import CATALOGUE, dlq_topic
from topics.deadletter import decode_checked
from topics.serde import AvroSerde, DecodeError

DLQ_HEADERS = ("error", "source-topic", "source-partition", "source-offset", "replayed-from")
DLQ_TOPICS = tuple(sorted(name for name in CATALOGUE if name.startswith("dlq.")))


class DlqError(RuntimeError):
    """The DLQ could not be read or a replay not delivered; the message says what and why."""


@dataclass(frozen=True)
class DeadLetter:
    topic: str  # the dlq.<source> topic
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k == name]
        return found[-1].decode(errors="replace") if found else None

    @property
    def error(self) -> str:
        return self.header("error") or "unknown: no error header"

    @property
    def code(self) -> str:
        return self.error.split(":", 1)[0]

    @property
    def source_topic(self) -> str:
        return self.header("source-topic") or self.topic.removeprefix("dlq.")

    @property
    def source(self) -> str:
        """Where the worker read it: `topic[partition]@offset`."""
        p, o = self.header("source-partition"), self.header("source-offset")
        return f"{self.source_topic}[{p}]@{o}"

    @property
    def at(self) -> str:
        """This dead letter's own coordinates, as `--at` takes them: `partition:offset`."""
        return f"{self.partition}:{self.offset}"

    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.headers if k not in DLQ_HEADERS]


@dataclass
class Summary:
    topic: str  # the source topic
    code: str
    count: int
    first: str  # `partition:offset` on the dlq topic, of the oldest (by time)
    last: str
    first_ms: int
    last_ms: int


@dataclass
class ReplayReport:
    replayed: list[DeadLetter] = field(default_factory=list)
    still_failing: list[tuple[DeadLetter, str]] = field(default_factory=list)


def source_topics(names: Iterable[str] | None) -> tuple[str, ...]:
    """The dlq topics for the given source topics (all of them for None); unknown names are
    a clear error."""
    if not names:
        return DLQ_TOPICS
    unknown = [n for n in names if dlq_topic(n) not in CATALOGUE]
    if unknown:
        known = ", ".join(t.removeprefix("dlq.") for t in DLQ_TOPICS)
        raise DlqError(f"no dead-letter topic for {', '.join(unknown)}: use one of {known}")
    return tuple(dlq_topic(n) for n in names)


def read(bootstrap: str, topics: Sequence[str], timeout_s: float = 60) -> list[DeadLetter]:
    """Every dead letter on `topics`, oldest first per partition, without joining a group."""
    consumer = Consumer(client_config(**{
        "bootstrap.servers": bootstrap,
        "group.id": f"wagerstream-dlq-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    }))  # fmt: skip
    try:
        try:
            metadata = consumer.list_topics(timeout=10)
        except KafkaException as exc:
            raise DlqError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
        ends: dict[tuple[str, int], int] = {}
        assign = []
        for topic in topics:
            if topic not in metadata.topics:
                continue  # never created: nothing was dead-lettered there
            for p in metadata.topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high > low:
                    ends[(topic, p)] = high
                    assign.append(TopicPartition(topic, p, OFFSET_BEGINNING))
        if not assign:
            return []
        consumer.assign(assign)
        letters: list[DeadLetter] = []
        deadline = time.monotonic() + timeout_s
        while ends:
            if time.monotonic() > deadline:
                left = ", ".join(f"{t}[{p}] up to {o}" for (t, p), o in sorted(ends.items()))
                raise DlqError(f"dead letters not read within {timeout_s:.0f} s: {left}")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise DlqError(f"reading {msg.topic()}: {msg.error()}")
            tp = (msg.topic(), msg.partition())
            letters.append(DeadLetter(
                msg.topic(), msg.partition(), msg.offset(), msg.timestamp()[1], msg.key(),
                msg.value(), tuple((k, v or b"") for k, v in (msg.headers() or [])),
            ))  # fmt: skip
            if tp in ends and msg.offset() + 1 >= ends[tp]:
                del ends[tp]
        return letters
    finally:
        consumer.close()


def summarise(letters: Iterable[DeadLetter]) -> list[Summary]:
    """Counts per (source topic, reason code), with the first and last dead letter of each."""
    groups: dict[tuple[str, str], list[DeadLetter]] = {}
    for letter in letters:
        groups.setdefault((letter.source_topic, letter.code), []).append(letter)
    rows = []
    for (topic, code), found in sorted(groups.items()):
        ordered = sorted(found, key=lambda d: (d.timestamp_ms, d.partition, d.offset))
        first, last = ordered[0], ordered[-1]
        rows.append(Summary(topic, code, len(found), first.at, last.at,
                            first.timestamp_ms, last.timestamp_ms))  # fmt: skip
    return rows


def select(
    letters: Iterable[DeadLetter],
    code: str | None = None,
    at: Sequence[str] = (),
    key: str | None = None,
) -> list[DeadLetter]:
    """The dead letters matching every given filter: reason code, `partition:offset` on the
    dlq topic, record key."""
    wanted = set(at)
    return [
        d
        for d in letters
        if (code is None or d.code == code)
        and (not wanted or d.at in wanted)
        and (key is None or (d.key or b"").decode(errors="replace") == key)
    ]


def replay(
    bootstrap: str,
    letters: Sequence[DeadLetter],
    serde: AvroSerde,
    max_skew_ms: int,
    force: bool = False,
    timeout_s: float = 30,
    dry_run: bool = False,
) -> ReplayReport:
    """Send each dead letter that now passes the worker's checks back to its source topic
    (all of them with `force`); report those that still fail, with today's reason. With
    `dry_run`, check and report only."""
    report = ReplayReport()
    for letter in letters:
        if not force:
            try:
                decode_checked(serde, letter.source_topic, letter.value, letter.key, max_skew_ms)
            except DecodeError as exc:
                report.still_failing.append((letter, exc.reason))
                continue
        report.replayed.append(letter)
    if not report.replayed or dry_run:
        return report
    producer = Producer(producer_config(bootstrap))
    failures: list[str] = []

    def delivered(err: object, msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for letter in report.replayed:
        headers = [*letter.original_headers(),
                   ("replayed-from", f"{letter.topic}/{letter.at}".encode())]  # fmt: skip
        producer.produce(letter.source_topic, key=letter.key, value=letter.value,
                         headers=headers, on_delivery=delivered)  # fmt: skip
    left = producer.flush(timeout_s)
    if left or failures:
        raise DlqError(
            f"replay not confirmed: {left} of {len(report.replayed)} undelivered after "
            f"{timeout_s:.0f} s, errors: {failures[:3]}. Replaying again is safe (idempotent)."
        )
    return report
