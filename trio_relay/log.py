"""Logging: JSON lines when stderr is not a terminal, a readable console format when it is.

structlog renders every record, including those of the standard library's loggers (trio-websocket,
azure-identity), so one process writes one format. A session binds its ``session_id`` in a
context variable; Trio copies context variables into the tasks a session starts, so every line
its tasks write carries it. Payloads (audio, base64) and secrets are never passed to a logger;
should one get there anyway (an upstream that quotes the API key in an error, a library's
exception text), :func:`redact_secrets` replaces it in every string of every event, the
rendered traceback included (see :mod:`trio_relay.redact`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from .redact import redact

_PLAIN = (int, float, bool, type(None))


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"))
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    text = str(value)  # an object the renderer would turn into text: judge it by that text
    cleaned = redact(text)
    return value if cleaned == text else cleaned


def redact_secrets(logger: Any, method: str, event_dict: Any) -> Any:
    """A structlog processor: every string value of the event, with secrets redacted."""
    for key, value in event_dict.items():
        if key in ("exc_info", "_record", "_from_structlog"):
            continue  # rendered (and then redacted) by format_exc_info / the formatter
        event_dict[key] = _redacted(value)
    return event_dict


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    redact_secrets,
]


def formatter(*, json_lines: bool, colors: bool = False) -> logging.Formatter:
    """How every record is rendered, the standard library's loggers' included."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=colors)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,  # again: the traceback text exists only from here on
            renderer,
        ],
    )


def setup_logging(
    level: str, *, json_lines: bool | None = None, stream: TextIO | None = None
) -> None:
    """Configure the root logger once, at start-up."""
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not stream.isatty()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(json_lines=json_lines, colors=stream.isatty()))
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
