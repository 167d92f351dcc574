"""The JSON log line (api/logs.py, TIERS_LOG_FORMAT=json): one object, UTC time, the extra
fields, and an exception as its class and frames -- never its text, which may quote values."""

from __future__ import annotations

import json
import logging

from tierspayant.api.logs import JsonFormatter


def record(message: str, *args: object, exc: BaseException | None = None, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("tierspayant.api", logging.WARNING, __file__, 10, message, args,
                             (type(exc), exc, exc.__traceback__) if exc else None)
    made.__dict__.update(extra)
    return made


def test_a_line_is_one_object_with_its_extra_fields() -> None:
    line = JsonFormatter().format(record("group commit of %d writes failed", 12, batch="b-1", seconds=0.5))
    assert "\n" not in line
    out = json.loads(line)
    assert out["level"] == "warning" and out["logger"] == "tierspayant.api"
    assert out["message"] == "group commit of 12 writes failed"
    assert out["time"].endswith("Z") and "T" in out["time"]
    assert (out["batch"], out["seconds"]) == ("b-1", 0.5)


def test_an_exception_is_its_class_and_frames_not_its_text() -> None:
    try:
        raise ValueError("NIR 269083114939365 refused")  # what a database error's text may quote
    except ValueError as exc:
        caught = exc
    line = JsonFormatter().format(record("unexpected", exc=caught))
    out = json.loads(line)
    assert out["exception"] == "ValueError"
    assert out["frames"] and out["frames"][0].startswith("test_json_logs.py:")
    assert "269083114939365" not in line
