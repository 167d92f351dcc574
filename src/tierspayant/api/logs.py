"""The platform's logs: JSON lines for machines or text for a terminal (``TIERS_LOG_FORMAT``),
for ``tiers serve`` -- its workers and granian's own logger -- and the other commands (issue
19, point 4; README "Operations").

A JSON line is one object: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, and the
record's extra fields (``logger.info("...", extra={"batch": 12})``). The platform logs ids,
counts and exception class names, never a person (tests/integration/test_dump_scan.py scans
these lines); an exception is written as its class and its frames (file, line, function),
never its text -- a database error's text quotes the statement's values."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: A text line (the terminal's): time in UTC, level, logger, message.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The attributes every record has: the rest are the caller's extra fields.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_HANDLER = "tierspayant"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value if isinstance(value, str | int | float | bool) or value is None else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__
            out["frames"] = [f"{Path(frame.filename).name}:{frame.lineno} {frame.name}"
                             for frame in traceback.extract_tb(record.exc_info[2])]
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """A terminal's line, its time in UTC."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure(log_format: str, level: str) -> None:
    """The process's logs on standard error, in ``log_format`` from ``level`` up. Replaces only
    the handler it installed before (a test runner's own handlers stay)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _HANDLER]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER)
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level.upper())


def granian_config(log_format: str, level: str) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` granian applies in the server and in each worker
    (``log_dictconfig``): its own logger and the application's, in ``log_format``."""
    kind = JsonFormatter if log_format == "json" else TextFormatter
    handler = {"class": "logging.StreamHandler", "formatter": "tiers", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"tiers": {"()": f"{kind.__module__}.{kind.__qualname__}"}},
        "handlers": {"console": handler, "access": handler},
        "loggers": {"_granian": {"handlers": ["console"], "level": level.upper(), "propagate": False},
                    "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False}},
        "root": {"handlers": ["console"], "level": level.upper()},
    }
