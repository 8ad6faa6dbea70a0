"""JSON logs carry trace_id, tenant_id and brand_id of the event being handled."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import time

from foundation.logs import log_context, logging_config


def test_json_lines_with_event_context() -> None:
    logging.config.dictConfig(logging_config("INFO"))
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)  # type: ignore[attr-defined]
    log = logging.getLogger("wagerstream.test")
    with log_context(trace_id="tr-1", tenant_id="t1", brand_id="b1"):
        log.info("inside %s", "event")
    log.info("outside")
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "inside event" and inside["level"] == "INFO"
    assert (inside["trace_id"], inside["tenant_id"], inside["brand_id"]) == ("tr-1", "t1", "b1")
    assert (outside["trace_id"], outside["tenant_id"], outside["brand_id"]) == (None, None, None)


def json_lines(level: str = "INFO") -> io.StringIO:
    logging.config.dictConfig(logging_config(level))
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    return stream


def test_timestamps_are_rfc3339_utc() -> None:
    stream = json_lines()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "at a known time", None, None)
    record.created = 1796109681.052  # date -u -d 2026-12-01T07:21:21Z +%s
    logging.getLogger("x").handle(record)
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["ts"] == "2026-12-01T07:21:21.052Z"


def test_librdkafka_lines_go_through_the_json_formatter() -> None:
    """A client of ours given no broker: librdkafka's connection failure arrives as a JSON
    line from the `librdkafka` logger, not as a raw `%3|…|FAIL|` line on stderr."""
    from confluent_kafka import Producer

    from foundation.kafka import producer_config

    stream = json_lines()
    producer = Producer(producer_config("127.0.0.1:1", **{"reconnect.backoff.ms": 50}))
    deadline = time.monotonic() + 20
    lines: list[dict] = []
    while not lines and time.monotonic() < deadline:
        producer.poll(0.2)
        lines = [json.loads(x) for x in stream.getvalue().splitlines()]
        lines = [x for x in lines if x["logger"] == "librdkafka"]
    assert lines, "no librdkafka line within 20 s"
    assert "127.0.0.1:1" in lines[0]["message"] and lines[0]["level"] in ("ERROR", "WARNING")
