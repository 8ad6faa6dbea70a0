"""Structured JSON logs that always carry trace_id, tenant_id and brand_id.

The three ids live in context variables set by the agent for the event being processed, so any
log line written while handling it (ours or a library's) can be joined to the upstream trace.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from foundation.secrets import redact

CONTEXT_FIELDS = ("trace_id", "tenant_id", "brand_id")
_context: dict[str, ContextVar[str | None]] = {
    name: ContextVar(name, default=None) for name in CONTEXT_FIELDS
}


class ContextFilter(logging.Filter):
    """Adds the context ids and masks credentials (a library may log a DSN or URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _context.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
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


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    tokens = [(_context[k], _context[k].set(v)) for k, v in values.items() if k in _context]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


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
