"""Structured JSON logs that always carry trace_id, tenant_id and brand_id.

The three ids live in context variables set by the agent for the event being processed, so any
log line written while handling it (ours or a library's) can be joined to the upstream trace.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from foundation.secrets import redact

CONTEXT_FIELDS = ("trace_id", "tenant_id", "brand_id")
# one variable for the three ids: set and reset once per event on the worker's hot path
_ids: ContextVar[tuple[str | None, str | None, str | None]] = ContextVar(
    "log_ids", default=(None, None, None)
)


class ContextFilter(logging.Filter):
    """Adds the context ids and masks credentials (a library may log a DSN or URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in zip(CONTEXT_FIELDS, _ids.get(), strict=True):
            if not hasattr(record, name):
                setattr(record, name, value)
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class UtcJsonFormatter(JsonFormatter):
    """`ts` as RFC 3339 in UTC with milliseconds (`2026-12-01T07:41:21.052Z`): the logging
    module's default has no zone, so lines from hosts in different zones cannot be ordered."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# librdkafka's own log lines (`%4|…|METADATAUPDATE|…` on stderr by default) go to this logger
# instead, through the same JSON formatter (foundation.kafka gives it to every client).
LIBRDKAFKA = logging.getLogger("librdkafka")


class log_context:
    """The ids every log line written inside carries (a class, not a generator: it runs for
    every event)."""

    __slots__ = ("_token", "_values")

    def __init__(
        self, trace_id: str | None = None, tenant_id: str | None = None, brand_id: str | None = None
    ) -> None:
        self._values = (trace_id, tenant_id, brand_id)

    def __enter__(self) -> None:
        self._token = _ids.set(self._values)

    def __exit__(self, *exc: object) -> None:
        _ids.reset(self._token)


def logging_config(level: str) -> dict[str, Any]:
    """A dictConfig for the Faust worker and the CLI: one JSON object per line on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {
            "json": {
                "()": UtcJsonFormatter,
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s "
                + " ".join(f"%({f})s" for f in CONTEXT_FIELDS),
                "rename_fields": {"asctime": "ts", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }
