"""Structured logging for every component: one JSON object per line, with the task id.

`task_log(logger, task_id)` returns an adapter that puts `task_id` on every line it writes, so
a task's history can be followed across the operator, the workers and the API with one grep.
"""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", "task_id", ...extra}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = (
                    value
                    if isinstance(value, str | int | float | bool) or value is None
                    else str(value)
                )
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, still with the task id."""

    def format(self, record: logging.LogRecord) -> str:
        task = getattr(record, "task_id", None)
        prefix = f"[{task}] " if task else ""
        head = f"{self.formatTime(record)} {record.levelname:<7} {record.name}"
        line = f"{head}: {prefix}{record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send every logger's records to stderr in the chosen format (idempotent)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("pika", "kubernetes.client.rest", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class TaskLog(logging.LoggerAdapter[logging.Logger]):
    """A logger adapter that adds `task_id` to each line."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def task_log(logger: logging.Logger, task_id: UUID | str) -> TaskLog:
    return TaskLog(logger, {"task_id": str(task_id)})
