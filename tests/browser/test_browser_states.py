"""The page's states, in Chromium, as a user would see them: idle, connected, speaking with live
captions, tool calls (also in the dark colour scheme), and the ends of a connection. The page is
served by a real relay; the conversation comes from a scripted :class:`FakeRelay`, which sends
what the real relay does not send yet (``tool_call``, ``transcription_delta``) exactly when the
test says. Each main state is written to ``test-artifacts/browser/<state>.png`` for people to
look at.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import pytest
import trio
from fake_relay import start_fake_relay
from harness import serve, speech_like_pcm
from page_driver import (
    connect,
    in_browser,
    page_url,
    record_console,
    screenshot,
    turn_mic_off,
    turn_mic_on,
    wait_hooks,
)
from playwright.sync_api import Page, expect

from fake_upstream import FakeUpstream
from trio_relay.config import RelayConfig, fake_target

pytestmark = pytest.mark.browser

GREETING = "Hi! Ask me what time it is."
SPEAKING = "Speaking…"
# frontend/src/styles.css, prefers-color-scheme: dark (--bg, --text).
DARK_BACKGROUND = "rgb(15, 18, 22)"
DARK_TEXT = "rgb(230, 233, 238)"


def write_voice_level_wav(path: Path, seconds: int = 10) -> Path:
    """A steady voiced signal at about -16 dBFS RMS (loud, normal speech): what the level meter
    should show as a level, not as a warning. Played in a loop by the fake microphone."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(24000)
        wav.writeframes(
            speech_like_pcm(lead_silence_ms=0, speech_ms=seconds * 1000, tail_silence_ms=0)
        )
    return path


@pytest.mark.time_limit(90)
async def test_states_captions_and_tool_calls_each_shown_once(
    nursery: trio.Nursery, fake: FakeUpstream, frontend_dist: Path, chromium: Path, tmp_path: Path
) -> None:
    static = await serve(
        nursery,
        RelayConfig(upstream=fake_target(fake.url, "gpt-realtime"), static_dir=str(frontend_dist)),
    )
    relay = await start_fake_relay(nursery, GREETING)
    microphone = write_voice_level_wav(tmp_path / "voice-level.wav")

    def say(**message: Any) -> None:
        trio.from_thread.run(relay.send, message)

    def drive(page: Page) -> dict[str, Any]:
        console = record_console(page)
        status = page.get_by_role("status")
        lines = page.locator("li.line")
        user = page.locator("li.line--user")
        activity = page.locator("li.line--activity")
        speaking = page.get_by_text(SPEAKING)

        # Idle: the state in the header; the conversation says where it will appear.
        expect(status).to_have_text("Not connected")
        expect(page.get_by_text("Your conversation will appear here.")).to_be_visible()
        screenshot(page, "idle")

        # Connected: once, in the header; the greeting is the only line.
        connect(page, relay.url)
        expect(status).to_have_text("Connected")
        expect(lines).to_have_count(1)
        expect(lines).to_have_text([f"Assistant: {GREETING}"])
        screenshot(page, "connected")

        # Speaking, with live captions; the meter reads as a level at normal speech.
        turn_mic_on(page)
        wait_hooks(page, "t.inputRms > 0.05")
        say(type="control", action="speech_started")
        expect(user).to_have_text([f"You said: {SPEAKING}"])
        say(type="transcription_delta", id="item_u1", delta="What time ")
        say(type="transcription_delta", id="item_u1", delta="is it")
        expect(user).to_have_text(["You said: What time is it"])
        expect(user).to_have_attribute("data-live", "true")
        meter = page.get_by_role("meter", name="Microphone input level")
        level = "document.querySelector('[role=meter]').getAttribute('aria-valuenow')"
        page.wait_for_function(f"() => Number({level}) > 0.5")
        expect(meter).not_to_have_attribute("data-clipping", "true")
        screenshot(page, "speaking-with-captions")
        # The final transcription replaces the caption.
        say(type="transcription", id="item_u1", text="What time is it?")
        expect(user).to_have_text(["You said: What time is it?"])
        expect(user).not_to_have_attribute("data-live", "true")
        turn_mic_off(page)

        # A tool call: one line, updated in place.
        say(type="text_delta", id="item_a1-0", delta="Let me check.")
        say(
            type="tool_call",
            id="call_1",
            name="get_time",
            status="started",
            arguments={"tz": "UTC"},
        )
        expect(activity).to_have_count(1)
        expect(activity.locator(".line__text")).to_have_text("Looking up get time…")
        expect(activity).to_have_attribute("data-phase", "active")
        screenshot(page, "tool-call-running")
        say(type="tool_call", id="call_1", name="get_time", status="done", output="12:00 UTC")
        say(type="tool_call", id="call_2", name="lookup_weather", status="started")
        say(type="tool_call", id="call_2", name="lookup_weather", status="failed", reason="timeout")
        say(type="tool_call", id="call_9", name="get_time", status="awaiting_approval")  # unknown
        say(type="text_delta", id="item_a1-0", delta=" It is noon in UTC.")
        say(type="control", action="text_done", id="item_a1-0")
        expect(activity.locator(".line__text")).to_have_text(
            ["Get time done", "Lookup weather took too long"]
        )
        expect(page.locator("li.line--assistant").last).to_have_attribute("aria-busy", "false")
        screenshot(page, "tool-calls-done")
        # The same conversation in the system's dark scheme: dark page, light text.
        page.emulate_media(color_scheme="dark")
        expect(page.locator("html")).to_have_css("background-color", DARK_BACKGROUND)
        expect(page.locator("html")).to_have_css("color", DARK_TEXT)
        screenshot(page, "tool-calls-done-dark")
        page.emulate_media(color_scheme="light")
        expect(page.locator("html")).not_to_have_css("background-color", DARK_BACKGROUND)

        # "Speaking…" ends with the microphone...
        turn_mic_on(page)
        say(type="control", action="speech_started")
        expect(speaking).to_have_count(1)
        turn_mic_off(page)
        expect(speaking).to_have_count(0)
        # ... and with the connection, which also stops a tool call still running.
        turn_mic_on(page)
        say(type="control", action="speech_started")
        say(type="tool_call", id="call_3", name="get_time", status="started")
        expect(speaking).to_have_count(1)
        page.get_by_role("button", name="Disconnect").click()
        expect(status).to_have_text("Disconnected")
        expect(status).not_to_have_attribute("data-failed", "true")
        expect(speaking).to_have_count(0)
        expect(activity.last.locator(".line__text")).to_have_text("Get time stopped")
        expect(page.get_by_role("alert")).to_have_count(0)  # the user asked for it

        # A close the relay did not explain: one line in words; the code is for the console.
        connect(page)
        expect(status).to_have_text("Connected")
        trio.from_thread.run(relay.close, 1013, "at capacity")
        expect(status).to_have_text("Disconnected")
        expect(status).to_have_attribute("data-failed", "true")
        alert = page.get_by_role("alert")
        expect(alert).to_have_count(1)
        expect(alert).to_have_text("The service is busy right now. Please try again in a moment.")
        return {"console": list(console), "body": page.locator("body").inner_text()}

    seen = await in_browser(
        chromium, tmp_path, page_url(static.port), drive, microphone, loop_microphone=True
    )
    print("console:", seen["console"])
    body: str = seen["body"]
    assert "1013" not in body and "at capacity" not in body, body
    assert body.count(SPEAKING) == 0 and body.count("Connected") == 0, body
    errors = [text for kind, text in seen["console"] if kind == "error"]
    # The only console error is the unexplained close, with its code and reason.
    assert len(errors) == 1 and "closed: try again later (1013): at capacity" in errors[0], errors
    infos = [text for kind, text in seen["console"] if kind == "info"]
    assert any("tool call call_1 get_time: done" in text for text in infos), infos
    assert relay.connections == 2 and relay.close_codes[0] == 1000
    assert relay.audio_bytes > 0
