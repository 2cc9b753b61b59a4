"""Logging: JSON lines when stderr is not a terminal, a readable console format when it is.

structlog renders every record, including those of the standard library's loggers (trio-websocket,
azure-identity), so one process writes one format. A session binds its ``session_id`` in a
context variable; Trio copies context variables into the tasks a session starts, so every line
its tasks write carries it. Payloads (audio, base64) and secrets are never passed to a logger.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def setup_logging(
    level: str, *, json_lines: bool | None = None, stream: TextIO | None = None
) -> None:
    """Configure the root logger once, at start-up."""
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not stream.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # trio-websocket logs every frame at DEBUG: too much, and it would log payload sizes per frame.
    logging.getLogger("trio-websocket").setLevel(max(logging.INFO, logging.getLevelName(level)))


# structlog hands every event to the standard library's logging (handlers, levels, pytest's
# caplog); the formatter installed by setup_logging renders it.
structlog.configure(
    processors=[
        structlog.stdlib.filter_by_level,
        *_SHARED,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
