"""JSON logs carry trace_id, tenant_id and brand_id of the event being handled."""

from __future__ import annotations

import io
import json
import logging
import logging.config

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
