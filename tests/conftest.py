"""Suite-wide rules.

A relay that logs an unexpected exception (a traceback) has a bug, even when the test's own
assertions pass: ``internal_error`` must be rare enough to page someone. Every test fails if a
logger of the relay or the fake upstream logged with ``exc_info``. A test that provokes such a
log on purpose says so with ``@pytest.mark.expects_traceback``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

WATCHED = ("trio_relay", "fake_upstream")


class TracebackRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.name.startswith(WATCHED):
            self.records.append(record)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "expects_traceback: the test provokes a logged traceback on purpose"
    )


@pytest.fixture(autouse=True)
def no_unexpected_tracebacks(request: pytest.FixtureRequest) -> Iterator[None]:
    recorder = TracebackRecorder()
    root = logging.getLogger()
    root.addHandler(recorder)
    try:
        yield
    finally:
        root.removeHandler(recorder)
    if recorder.records and request.node.get_closest_marker("expects_traceback") is None:
        first = recorder.records[0]
        text = logging.Formatter().formatException(first.exc_info) if first.exc_info else ""
        pytest.fail(
            f"{len(recorder.records)} unexpected traceback(s) logged; the first, by "
            f"{first.name}: {first.getMessage()}\n{text}",
            pytrace=False,
        )
