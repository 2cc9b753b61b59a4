"""Suite-wide rules.

A relay that logs an unexpected exception (a traceback) has a bug, even when the test's own
assertions pass: ``internal_error`` must be rare enough to page someone. Every test fails if a
logger of the relay or the fake upstream logged with ``exc_info``. A test that provokes such a
log on purpose says so with ``@pytest.mark.expects_traceback``.

Every Trio test is bounded: it fails after ``TEST_TIME_LIMIT_S`` (in the test's clock: on
``autojump_clock`` a test that hangs fails at once), or the limit of its
``@pytest.mark.time_limit(seconds)``.

The fixtures the e2e tests share live here: ``fake``, the fake upstream on a loopback port (its
:meth:`~fake_upstream.FakeUpstream.handle` serves in-memory connections too, see
``harness.serve_in_memory``).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any

import pytest
import trio

from fake_upstream import FakeUpstream, open_fake_upstream

WATCHED = ("trio_relay", "fake_upstream")


class TracebackRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.name.startswith(WATCHED):
            self.records.append(record)


TEST_TIME_LIMIT_S = 60.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "expects_traceback: the test provokes a logged traceback on purpose"
    )
    config.addinivalue_line(
        "markers", f"time_limit(seconds): bound the test otherwise (default {TEST_TIME_LIMIT_S:g})"
    )


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Wrap each Trio test in ``trio.fail_after`` before pytest-trio turns it into a run."""
    test = getattr(item, "obj", None)
    if item.get_closest_marker("trio") is not None and inspect.iscoroutinefunction(test):
        marker = item.get_closest_marker("time_limit")
        limit = float(marker.args[0]) if marker is not None else TEST_TIME_LIMIT_S
        item.obj = _bounded(test, limit)  # type: ignore[attr-defined]
    yield


def _bounded(test: Callable[..., Any], limit: float) -> Callable[..., Any]:
    @functools.wraps(test)
    async def bounded(**kwargs: Any) -> None:
        with trio.move_on_after(limit) as scope:
            await test(**kwargs)
        if scope.cancelled_caught:
            pytest.fail(f"the test ran over its time limit of {limit:g} s", pytrace=False)

    return bounded


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    """The fake upstream, on a loopback port."""
    async with open_fake_upstream() as fake:
        yield fake


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
