"""Real-browser end to end: Debian's Chromium (headless) loads the built frontend from an
in-process relay on the bundled fake upstream, and talks to it by text and through Chromium's
fake microphone, which plays ``fixtures/speech.wav`` once (``%noloop``) from the moment the page
opens the microphone.

How the browser is driven is in :mod:`page_driver`. What the page shows is read from the DOM;
what it heard and sent from ``window.__relayTest`` (``frontend/src/session/testHooks.ts``); what
reached the upstream from the fake's records.
"""

from __future__ import annotations

import base64
import json
import re
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from harness import serve
from page_driver import (
    SPEECH_WAV,
    connect,
    hooks,
    in_browser,
    page_url,
    record_console,
    screenshot,
    turn_mic_on,
    wait_hooks,
    wait_on_trio,
)
from playwright.sync_api import Page, expect
from speech_evidence import RATE, assert_speech, speech_evidence

from fake_upstream import FakeUpstream, open_fake_upstream
from trio_relay.config import (
    RelayConfig,
    SessionSettings,
    ToolSettings,
    fake_target,
    openai_target,
)
from trio_relay.errors import UNAVAILABLE_MESSAGE
from trio_relay.server import Relay

pytestmark = pytest.mark.browser


# --- the relay -----------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with open_fake_upstream() as fake:
        yield fake


async def serve_frontend(
    nursery: trio.Nursery, fake: FakeUpstream, dist: Path, model: str = "gpt-realtime"
) -> Relay:
    config = RelayConfig(upstream=fake_target(fake.url, model), static_dir=str(dist))
    return await serve(nursery, config)


def appended_pcm(fake: FakeUpstream, connection: int = 0) -> bytes:
    """The microphone audio the relay forwarded upstream, decoded."""
    return b"".join(
        base64.b64decode(event["audio"])
        for event in fake.connections[connection].received
        if event["type"] == "input_audio_buffer.append"
    )


def reply_audio_bytes(fake: FakeUpstream, connection: int = 0) -> int:
    """Bytes of assistant audio the fake sent the relay."""
    return sum(
        len(base64.b64decode(event["delta"]))
        for event in fake.connections[connection].sent
        if event["type"] == "response.output_audio.delta"
    )


def audio_of_replies(fake: FakeUpstream, count: int) -> int:
    """From the browser's worker thread: wait until the fake has sent ``count`` complete
    responses; return the bytes of assistant audio in them (what the page must receive)."""

    def finished() -> bool:
        sent = fake.connections[0].sent if fake.connections else []
        return sum(1 for event in sent if event["type"] == "response.done") >= count

    wait_on_trio(finished)
    audio: int = trio.from_thread.run_sync(reply_audio_bytes, fake, 0)
    return audio


# --- the tests -----------------------------------------------------------------------------------


async def test_text_chat_streams_the_answer_into_the_message_list(
    nursery: trio.Nursery, fake: FakeUpstream, frontend_dist: Path, chromium: Path, tmp_path: Path
) -> None:
    """Connect with the default endpoint, see the greeting, type + Enter, see the answer."""
    relay = await serve_frontend(nursery, fake, frontend_dist)
    greeting = SessionSettings().greeting
    question = "What is Trio?"

    def drive(page: Page) -> dict[str, Any]:
        endpoint = page.get_by_role("textbox", name="Relay endpoint")
        expect(endpoint).to_have_value(f"ws://127.0.0.1:{relay.port}/realtime")
        connect(page)
        expect(page.get_by_role("status")).to_have_text("Connected")
        assistant = page.locator("li.line--assistant")
        expect(assistant.first).to_have_text(f"Assistant: {greeting}")

        message = page.get_by_role("textbox", name="Message")
        message.fill(question)
        message.press("Enter")
        expect(message).to_have_value("")
        expect(page.locator("li.line--user")).to_have_text([f"You: {question}"])
        answer = assistant.nth(1)
        expect(answer).to_have_text(f"Assistant: You said: {question}")
        expect(answer).to_have_attribute("aria-busy", "false")  # text_done arrived
        # The answer's audio (the fake's soft tone) reached the player too, all of it.
        expected = audio_of_replies(fake, 1)
        return wait_hooks(page, f"t.receivedAudioBytes >= {expected} && t.playedSamples > 0")

    seen = await in_browser(chromium, tmp_path, page_url(relay.port), drive)

    record = fake.connections[0]
    items = [e["item"] for e in record.received if e["type"] == "conversation.item.create"]
    assert items and items[0]["content"] == [{"type": "input_text", "text": question}]
    deltas = [
        e["delta"] for e in record.sent if e["type"] == "response.output_audio_transcript.delta"
    ]
    assert len(deltas) > 1 and "".join(deltas) == f"You said: {question}"  # streamed in pieces
    assert seen["state"] == "connected"
    assert seen["receivedAudioBytes"] == reply_audio_bytes(fake)


async def test_the_demo_tool_shows_its_call_and_the_answer(
    nursery: trio.Nursery, fake: FakeUpstream, frontend_dist: Path, chromium: Path, tmp_path: Path
) -> None:
    """The offline demo's example tools: "what time is it in Tokyo?" runs get_time in the relay;
    the page shows the call, then the answer quoting its result."""
    config = RelayConfig(
        upstream=fake_target(fake.url, "gpt-realtime"),
        static_dir=str(frontend_dist),
        tools=ToolSettings(modules=("trio_relay.tools.examples",)),
    )
    relay = await serve(nursery, config)

    def drive(page: Page) -> str:
        connect(page)
        expect(page.get_by_role("status")).to_have_text("Connected")
        message = page.get_by_role("textbox", name="Message")
        message.fill("What time is it in Tokyo?")
        message.press("Enter")
        activity = page.locator("li.line--activity")
        expect(activity.locator(".line__text")).to_have_text("Get time done")
        answer = page.locator("li.line--assistant").last
        expect(answer).to_contain_text("Asia/Tokyo")
        expect(answer).to_have_attribute("aria-busy", "false")
        screenshot(page, "demo-tool")
        return answer.inner_text()

    answer = await in_browser(chromium, tmp_path, page_url(relay.port), drive)
    assert re.search(r'"time": ?"\d\d:\d\d"', answer), answer  # the tool's result, quoted
    record = fake.connections[0]
    outputs = [
        e["item"]
        for e in record.received
        if e.get("item", {}).get("type") == "function_call_output"
    ]
    assert len(outputs) == 1 and json.loads(outputs[0]["output"])["timezone"] == "Asia/Tokyo"


async def test_voice_turn_through_the_fake_microphone(
    nursery: trio.Nursery,
    fake: FakeUpstream,
    frontend_dist: Path,
    chromium: Path,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Chromium's fake microphone speaks ``speech.wav``; the relay forwards it, the fake's VAD
    ends the turn, and the assistant's answer (the user's own speech, echoed) is played."""
    relay = await serve_frontend(nursery, fake, frontend_dist)
    with wave.open(str(SPEECH_WAV)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (RATE, 1, 2)
        fixture_bytes = wav.getnframes() * 2
    shot: Path | None = None

    def drive(page: Page) -> dict[str, Any]:
        connect(page)
        expect(page.get_by_role("status")).to_have_text("Connected")
        turn_mic_on(page)
        # First what reached the upstream, so that a broken microphone path fails here, with
        # the measurements, rather than as a missing line on the page.
        wait_on_trio(lambda: len(appended_pcm(fake)) >= fixture_bytes)
        assert_speech(speech_evidence(trio.from_thread.run_sync(appended_pcm, fake, 0)))
        user = page.locator('li.line--user[data-spoken="true"]')
        expect(user).to_have_count(1)
        expect(user).to_have_text(re.compile(r"^You said: \[speech \d+\.\d\d s\]$"))
        answer = page.locator("li.line--assistant").nth(1)
        expect(answer).to_have_text(
            re.compile(r"^Assistant: I heard \d+\.\d\d seconds of audio\.$")
        )
        # The whole answer arrived, and the playback worklet played all of it.
        expected = audio_of_replies(fake, 1)
        seen = wait_hooks(
            page,
            f"t.receivedAudioBytes >= {expected} && t.bufferedSamples === 0"
            " && t.playedSamples * 24000 / t.playbackSampleRate >= t.receivedAudioBytes / 2",
        )
        nonlocal shot
        shot = screenshot(page, "voice-turn")
        seen["screenshot_bytes"] = shot.stat().st_size
        seen["user_text"] = user.inner_text()
        seen["answer_text"] = answer.inner_text()
        # Mic off: no frame is sent after it, so the page's counters are final; then every byte
        # the page sent must reach the upstream.
        page.get_by_role("button", name="Turn microphone off").click()
        expect(page.get_by_role("button", name="Turn microphone on")).to_be_visible()
        final = hooks(page)
        seen.update({key: final[key] for key in ("sentAudioBytes", "sentAudioFrames")})
        wait_on_trio(lambda: len(appended_pcm(fake)) >= seen["sentAudioBytes"])
        return seen

    seen = await in_browser(chromium, tmp_path, page_url(relay.port), drive)
    assert shot is not None
    record_property("screenshot", str(shot))
    with capsys.disabled():  # shown even with -q and output capture
        print(f"\n[browser] screenshot after the voice turn: {shot}")

    forwarded = appended_pcm(fake)
    evidence = speech_evidence(forwarded)
    print("forwarded audio:", json.dumps(evidence))
    print("page hooks:", json.dumps(seen))
    assert_speech(evidence)
    # What the page says it sent is what the relay forwarded, in 40 ms frames of 1920 bytes.
    assert seen["sentAudioBytes"] == len(forwarded) == seen["sentAudioFrames"] * 1920
    assert seen["peakInputRms"] >= 0.05

    transcript = re.search(r"\[speech (\d+\.\d\d) s\]", seen["user_text"])
    assert transcript and 1.5 <= float(transcript.group(1)) <= 3.5, seen["user_text"]
    # The answer is the user's speech echoed back (bit for bit), received and played in full.
    echoed = b"".join(
        base64.b64decode(event["delta"])
        for event in fake.connections[0].sent
        if event["type"] == "response.output_audio.delta"
    )
    assert len(echoed) >= 1.5 * RATE * 2 and echoed in forwarded
    assert speech_evidence(echoed)["voiced_seconds"] >= 1.2
    assert seen["receivedAudioBytes"] == len(echoed)
    assert seen["playedSamples"] >= 1.5 * seen["playbackSampleRate"]
    assert seen["peakReceivedRms"] >= 0.05
    assert seen["droppedSamples"] == 0 and seen["playbackClears"] == 1
    assert seen["screenshot_bytes"] > 10_000


async def test_barge_in_clears_the_assistant_audio_still_buffered(
    nursery: trio.Nursery, fake: FakeUpstream, frontend_dist: Path, chromium: Path, tmp_path: Path
) -> None:
    """Deterministic barge-in: a long typed turn gets a long spoken answer (the fake's tone,
    80 ms a word: about 8 s), which the fake sends at once, so nearly all of it waits in the
    playback ring buffer. Once it is audibly playing, the test turns the microphone on: the
    fake microphone starts ``speech.wav`` at that moment, the fake's VAD answers
    ``speech_started``, and the page must drop everything still buffered (``playbackClears``
    1, ``bufferedSamples`` 0 long before the answer could have played out)."""
    relay = await serve_frontend(nursery, fake, frontend_dist)
    words = " ".join(f"word{i}" for i in range(100))

    def drive(page: Page) -> dict[str, Any]:
        connect(page)
        expect(page.get_by_role("status")).to_have_text("Connected")
        message = page.get_by_role("textbox", name="Message")
        message.fill(words)
        message.press("Enter")
        reply_samples = audio_of_replies(fake, 1) // 2
        # All of the answer has arrived, and half a second of it has played.
        playing = wait_hooks(
            page, f"t.receivedAudioBytes >= {reply_samples * 2} && t.playedSamples >= 12000"
        )
        turn_mic_on(page)
        cleared = wait_hooks(page, "t.playbackClears >= 1 && t.bufferedSamples === 0")
        expect(page.locator('li.line--user[data-spoken="true"]')).to_have_count(1)
        # The interrupted answer never resumes: what plays next is the answer to the speech.
        answer = page.locator("li.line--assistant").nth(2)
        expect(answer).to_have_text(re.compile(r"^Assistant: I heard "))
        expected = audio_of_replies(fake, 2)
        done = wait_hooks(
            page,
            f"t.receivedAudioBytes >= {expected} && "
            "t.playedSamples * 24000 / t.playbackSampleRate >= "
            f"{cleared['playedSamples']} + (t.receivedAudioBytes / 2 - {reply_samples}) - 480"
            " && t.bufferedSamples === 0",
        )
        return {
            "reply_samples": reply_samples,
            "playing": playing,
            "cleared": cleared,
            "done": done,
        }

    seen = await in_browser(chromium, tmp_path, page_url(relay.port), drive)
    print("page hooks:", json.dumps(seen))
    playing, cleared, done = seen["playing"], seen["cleared"], seen["done"]
    reply_samples = seen["reply_samples"]
    assert reply_samples >= 7 * RATE  # "You said: word0 ... word99": 102 words of 80 ms
    assert playing["playbackSampleRate"] == RATE
    assert cleared["playbackClears"] == 1
    # Cleared while most of the long answer was still waiting to be played.
    assert cleared["playedSamples"] <= reply_samples - 4 * RATE, cleared
    # It stayed dropped: at the end, played = before the clear + the whole second answer.
    second_answer = done["receivedAudioBytes"] // 2 - reply_samples
    assert second_answer >= 1.5 * RATE
    assert done["playedSamples"] <= cleared["playedSamples"] + second_answer + 2 * 128, done
    assert done["playbackClears"] == 1 and done["droppedSamples"] == 0
    record = fake.connections[0]
    truncates = [e for e in record.received if e["type"] == "conversation.item.truncate"]
    answers = [e["item"] for e in record.sent if e["type"] == "response.output_item.added"]
    print("truncate events:", json.dumps(truncates))
    # The relay also cut the interrupted answer upstream (where it is cut is the relay's
    # business: it can only know what it sent, not what the page played).
    assert [e["item_id"] for e in truncates] == [item["id"] for item in answers[:1]]


async def test_upstream_refusal_is_shown_once_in_words_for_the_user(
    nursery: trio.Nursery, fake: FakeUpstream, frontend_dist: Path, chromium: Path, tmp_path: Path
) -> None:
    """The page (served by a healthy relay) is pointed at a second relay whose upstream refuses
    its API key (``fault-401``): the relay sends ``error`` ``upstream_unavailable`` and closes
    with 1011. The page shows the relay's end-user message once (not in the header, not again
    as a close line, not cut short), the header says "Disconnected", and the codes and the
    close reason are in the console, for the developer. Never the key, nor operator hints."""
    secret = "sk-browser-test-secret-key"
    healthy = await serve_frontend(nursery, fake, frontend_dist)
    refused = await serve(
        nursery, RelayConfig(upstream=openai_target(f"{fake.url}/v1", "fault-401", secret))
    )
    endpoint = f"ws://127.0.0.1:{refused.port}/realtime"
    shot: Path | None = None

    def drive(page: Page) -> dict[str, Any]:
        nonlocal shot
        console = record_console(page)
        connect(page, endpoint)
        status = page.get_by_role("status")
        expect(status).to_have_text("Disconnected")
        expect(status).to_have_attribute("data-failed", "true")
        alert = page.get_by_role("alert")
        expect(alert).to_have_count(1)
        expect(alert).to_have_text(UNAVAILABLE_MESSAGE)
        expect(alert).to_have_attribute("data-code", "upstream_unavailable")
        # The user can try again: Connect is offered and the endpoint editable.
        expect(page.get_by_role("button", name="Connect")).to_be_enabled()
        expect(page.get_by_role("textbox", name="Relay endpoint")).to_be_editable()
        shot = screenshot(page, "error")
        seen = hooks(page)
        seen["screenshot_bytes"] = shot.stat().st_size
        seen["body"] = page.locator("body").inner_text()
        seen["console"] = list(console)
        return seen

    seen = await in_browser(chromium, tmp_path, page_url(healthy.port), drive)
    print("page:", json.dumps({k: seen[k] for k in ("body", "console", "closeCode", "state")}))
    assert seen["closeCode"] == 1011 and seen["state"] == "closed"
    body: str = seen["body"]
    assert body.count("The voice service") == 1, body
    for hidden in (secret, "API key", "1011", "upstream_unavailable", "upstream failure"):
        assert hidden not in body, f"{hidden!r} shown to the end user: {body}"
    errors = [text for kind, text in seen["console"] if kind == "error"]
    assert any("relay error upstream_unavailable" in text for text in errors), errors
    assert any("upstream failure (1011)" in text for text in errors), errors
    assert [r.rejected_status for r in fake.connections] == [401]
    assert shot is not None and seen["screenshot_bytes"] > 10_000
