"""Driving the built frontend in Debian's Chromium (headless) from a Trio test.

Playwright's sync API runs in a worker thread (``trio.to_thread.run_sync``) so that the relay,
the fake upstream and any fake relay keep running on the Trio thread meanwhile; the worker
reaches back with :func:`wait_on_trio` / ``trio.from_thread``. Every wait is a condition with a
bounded timeout, never a fixed sleep. The page is opened with ``?test-hooks``, which turns on
``window.__relayTest`` (``frontend/src/session/testHooks.ts``); without it the page measures
nothing for tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import trio
from playwright.sync_api import ConsoleMessage, Page, expect, sync_playwright

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
SPEECH_WAV = HERE / "fixtures" / "speech.wav"
ARTIFACTS = HERE.parents[1] / "test-artifacts" / "browser"

# Timeouts of single steps (ms); each test is a handful of steps of a few seconds at most.
STEP_MS = 10_000
POLL_MS = 20

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


def page_url(port: int) -> str:
    """The frontend served by a relay on ``port``, with the test hooks on."""
    return f"http://127.0.0.1:{port}/?test-hooks"


def run_browser(
    chromium: Path,
    profile: Path,
    url: str,
    drive: Callable[[Page], T],
    microphone: Path,
    loop_microphone: bool = False,
) -> T:
    """Open ``url`` in a fresh headless Chromium (profile ``profile``), run ``drive(page)``,
    close the browser. The page must raise no uncaught error. Runs in a worker thread.

    The fake microphone plays ``microphone`` from the moment the page opens it: once, or
    over and over with ``loop_microphone``."""
    # Chromium plays silence, with no error, from a file it cannot read.
    assert microphone.is_file(), f"missing fake microphone input {microphone}"
    loop = "" if loop_microphone else "%noloop"
    args = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={microphone}{loop}"]
    page_errors: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(chromium), headless=True, args=args
        )
        try:
            context.set_default_timeout(STEP_MS)
            page = context.pages[0] if context.pages else context.new_page()
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.goto(url)
            result = drive(page)
        finally:
            context.close()
    assert page_errors == [], f"uncaught errors in the page: {page_errors}"
    return result


async def in_browser(
    chromium: Path,
    tmp_path: Path,
    url: str,
    drive: Callable[[Page], T],
    microphone: Path = SPEECH_WAV,
    loop_microphone: bool = False,
) -> T:
    return await trio.to_thread.run_sync(
        run_browser, chromium, tmp_path / "profile", url, drive, microphone, loop_microphone
    )


def wait_on_trio(condition: Callable[[], bool], timeout_s: float = STEP_MS / 1000) -> None:
    """From the browser's worker thread: wait until ``condition()``, evaluated on the Trio
    thread (where the relay and the fake upstream live), holds."""

    async def poll() -> None:
        with trio.fail_after(timeout_s):
            # Polled: the fake upstream records events in lists and signals nothing per event.
            while not condition():  # noqa: ASYNC110
                await trio.sleep(POLL_MS / 1000)

    trio.from_thread.run(poll)


def hooks(page: Page) -> dict[str, Any]:
    value: dict[str, Any] = page.evaluate("() => ({ ...window.__relayTest })")
    return value


def wait_hooks(page: Page, condition: str, timeout_ms: int = STEP_MS) -> dict[str, Any]:
    """Wait until ``condition`` (JS over ``t``, the test hooks) holds; return the hooks then."""
    page.wait_for_function(
        f"() => {{ const t = window.__relayTest; return !!t && ({condition}); }}",
        polling=POLL_MS,
        timeout=timeout_ms,
    )
    return hooks(page)


def record_console(page: Page) -> list[tuple[str, str]]:
    """The page's console from now on, as ``(type, text)`` pairs (``error``, ``info``, ...)."""
    messages: list[tuple[str, str]] = []

    def record(message: ConsoleMessage) -> None:
        messages.append((message.type, message.text))

    page.on("console", record)
    return messages


def connect(page: Page, endpoint: str | None = None) -> None:
    if endpoint is not None:
        page.get_by_role("textbox", name="Relay endpoint").fill(endpoint)
    page.get_by_role("button", name="Connect").click()


def turn_mic_on(page: Page) -> None:
    page.get_by_role("button", name="Turn microphone on").click()
    expect(page.get_by_role("button", name="Turn microphone off")).to_be_visible()


def turn_mic_off(page: Page) -> None:
    page.get_by_role("button", name="Turn microphone off").click()
    expect(page.get_by_role("button", name="Turn microphone on")).to_be_visible()


def screenshot(page: Page, name: str) -> Path:
    """The whole page as ``test-artifacts/browser/<name>.png`` (for people to look at)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
