"""Real-browser end to end: Debian's Chromium (headless) loads the built frontend from an
in-process relay on the bundled fake upstream, and talks to it by text and through Chromium's
fake microphone, which plays ``fixtures/speech.wav`` once (``%noloop``) from the moment the page
opens the microphone.

Playwright's sync API runs in a worker thread (``trio.to_thread.run_sync``) so that the relay and
the fake upstream keep running on the Trio thread meanwhile. Every wait is a condition with a
bounded timeout (``wait_for_function`` / ``expect``), never a fixed sleep. What the page shows is
read from the DOM; what it heard and sent from ``window.__relayTest``
(``frontend/src/session/testHooks.ts``); what reached the upstream from the fake's records.
"""

from __future__ import annotations

import array
import base64
import json
import math
import re
import sys
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio
from harness import serve
from playwright.sync_api import Page, expect, sync_playwright

from fake_upstream import FakeUpstream, open_fake_upstream
from trio_relay.config import RelayConfig, SessionSettings, fake_target, openai_target
from trio_relay.server import Relay

pytestmark = pytest.mark.browser

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
SPEECH_WAV = HERE / "fixtures" / "speech.wav"
ARTIFACTS = HERE.parents[1] / "test-artifacts" / "browser"

RATE = 24000
WINDOW = RATE // 50  # 20 ms
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


def page_url(relay: Relay) -> str:
    return f"http://127.0.0.1:{relay.port}/"


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


# --- the browser (worker thread) -----------------------------------------------------------------


def run_browser(
    chromium: Path, profile: Path, url: str, drive: Callable[[Page], T], microphone: Path
) -> T:
    """Open ``url`` in a fresh headless Chromium (profile ``profile``), run ``drive(page)``,
    close the browser. The page must raise no uncaught error. Runs in a worker thread."""
    # Chromium plays silence, with no error, from a file it cannot read.
    assert microphone.is_file(), f"missing fake microphone input {microphone}"
    args = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={microphone}%noloop"]
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
) -> T:
    return await trio.to_thread.run_sync(
        run_browser, chromium, tmp_path / "profile", url, drive, microphone
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


def audio_of_replies(fake: FakeUpstream, count: int) -> int:
    """From the browser's worker thread: wait until the fake has sent ``count`` complete
    responses; return the bytes of assistant audio in them (what the page must receive)."""

    def finished() -> bool:
        sent = fake.connections[0].sent if fake.connections else []
        return sum(1 for event in sent if event["type"] == "response.done") >= count

    wait_on_trio(finished)
    audio: int = trio.from_thread.run_sync(reply_audio_bytes, fake, 0)
    return audio


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


def connect(page: Page, endpoint: str | None = None) -> None:
    if endpoint is not None:
        page.get_by_role("textbox", name="Relay endpoint").fill(endpoint)
    page.get_by_role("button", name="Connect").click()


def turn_mic_on(page: Page) -> None:
    page.get_by_role("button", name="Turn microphone on").click()
    expect(page.get_by_role("button", name="Turn microphone off")).to_be_visible()


# --- audio measurements --------------------------------------------------------------------------


def samples_of(pcm: bytes) -> array.array[int]:
    """PCM16 little-endian bytes as signed samples."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def rms(samples: array.array[int] | list[int]) -> float:
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768


def zero_crossings_per_s(samples: array.array[int]) -> float:
    crossings = sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a < 0) != (b < 0))
    return crossings * RATE / len(samples)


def tone_residual(samples: array.array[int]) -> float:
    """Energy left after predicting each sample from the two before it (least squares), as a
    fraction of the window's energy. A single sinusoid obeys x[n] = 2cos(w)x[n-1] - x[n-2]
    exactly, so a tone or a beep leaves about 0; speech leaves a few percent or more."""
    x = [s / 32768 for s in samples]
    prev1, prev2, now = x[1:-1], x[:-2], x[2:]
    c11 = sum(a * a for a in prev1)
    c22 = sum(b * b for b in prev2)
    c12 = sum(a * b for a, b in zip(prev1, prev2, strict=True))
    b1 = sum(n * a for n, a in zip(now, prev1, strict=True))
    b2 = sum(n * b for n, b in zip(now, prev2, strict=True))
    energy = sum(n * n for n in now)
    det = c11 * c22 - c12 * c12
    if energy <= 0 or det <= 0:
        return 0.0
    a1, a2 = (b1 * c22 - b2 * c12) / det, (c11 * b2 - c12 * b1) / det
    error = sum((n - a1 * a - a2 * b) ** 2 for n, a, b in zip(now, prev1, prev2, strict=True))
    return error / energy


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def speech_evidence(pcm: bytes, voiced_rms: float = 0.01) -> dict[str, float]:
    """Loudness and spectral variety of ``pcm`` over its voiced 20 ms windows (RMS at least
    ``voiced_rms``, -40 dBFS). Speech alternates vowels (few zero crossings per second) and
    fricatives (many), and no window of it is a pure sinusoid (see :func:`tone_residual`)."""
    samples = samples_of(pcm)
    windows = [samples[i : i + WINDOW] for i in range(0, len(samples) - WINDOW + 1, WINDOW)]
    voiced = [w for w in windows if rms(w) >= voiced_rms]
    rates = [zero_crossings_per_s(w) for w in voiced] or [0.0]
    residuals = [tone_residual(w) for w in voiced] or [0.0]
    return {
        "seconds": len(samples) / RATE,
        "voiced_seconds": len(voiced) * WINDOW / RATE,
        "overall_rms": rms(samples),
        "voiced_rms": rms([s for w in voiced for s in w]),
        "zcr_p10": percentile(rates, 0.1),
        "zcr_p90": percentile(rates, 0.9),
        "tone_residual_median": percentile(residuals, 0.5),
    }


def assert_speech(evidence: dict[str, float]) -> None:
    """The fixture's speech (about 1.85 s, peak -3 dBFS) is in the audio: not zeros (a wrong
    fixture path), not Chromium's beep or a tone (no file flag), not an endless signal."""
    assert evidence["voiced_seconds"] >= 1.2, f"too little audio above -40 dBFS: {evidence}"
    assert evidence["voiced_seconds"] <= 3.0, f"longer than the fixture's speech: {evidence}"
    assert evidence["voiced_rms"] >= 0.03, f"too quiet for the fixture's speech: {evidence}"
    assert evidence["zcr_p90"] >= 2.5 * evidence["zcr_p10"], f"no vowel/fricative mix: {evidence}"
    assert evidence["tone_residual_median"] >= 0.005, f"a tone or a beep, not speech: {evidence}"


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

    seen = await in_browser(chromium, tmp_path, page_url(relay), drive)

    record = fake.connections[0]
    items = [e["item"] for e in record.received if e["type"] == "conversation.item.create"]
    assert items and items[0]["content"] == [{"type": "input_text", "text": question}]
    deltas = [
        e["delta"] for e in record.sent if e["type"] == "response.output_audio_transcript.delta"
    ]
    assert len(deltas) > 1 and "".join(deltas) == f"You said: {question}"  # streamed in pieces
    assert seen["state"] == "connected"
    assert seen["receivedAudioBytes"] == reply_audio_bytes(fake)


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
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "voice-turn.png"
    screenshot.unlink(missing_ok=True)

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
        page.screenshot(path=str(screenshot), full_page=True)
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

    seen = await in_browser(chromium, tmp_path, page_url(relay), drive)
    record_property("screenshot", str(screenshot))
    with capsys.disabled():  # shown even with -q and output capture
        print(f"\n[browser] screenshot after the voice turn: {screenshot}")

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
    assert screenshot.stat().st_size > 10_000


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

    seen = await in_browser(chromium, tmp_path, page_url(relay), drive)
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


async def test_upstream_refusal_is_shown_with_the_close_reason(
    nursery: trio.Nursery, fake: FakeUpstream, frontend_dist: Path, chromium: Path, tmp_path: Path
) -> None:
    """The page (served by a healthy relay) is pointed at a second relay whose upstream refuses
    its API key (``fault-401``): the relay sends ``error`` ``upstream_unavailable`` and closes
    with 1011; the page shows the error line and the close in words, and never the key."""
    secret = "sk-browser-test-secret-key"
    healthy = await serve_frontend(nursery, fake, frontend_dist)
    refused = await serve(
        nursery, RelayConfig(upstream=openai_target(f"{fake.url}/v1", "fault-401", secret))
    )
    endpoint = f"ws://127.0.0.1:{refused.port}/realtime"

    def drive(page: Page) -> dict[str, Any]:
        connect(page, endpoint)
        alert = page.get_by_role("alert")
        expect(alert).to_have_text(
            re.compile(r"^Error \(upstream_unavailable\): The voice service is unavailable")
        )
        status = page.get_by_role("status")
        expect(status).to_have_text(
            re.compile(r"^Closed: upstream failure \(1011\): The voice service is unavailable")
        )
        expect(status).to_have_attribute("data-failed", "true")
        expect(page.locator("li.line--status").last).to_have_text(
            re.compile(r"^Disconnected: upstream failure \(1011\)")
        )
        # The user can try again: Connect is offered and the endpoint editable.
        expect(page.get_by_role("button", name="Connect")).to_be_enabled()
        expect(page.get_by_role("textbox", name="Relay endpoint")).to_be_editable()
        seen = hooks(page)
        seen["alert"] = alert.inner_text()
        seen["status"] = status.inner_text()
        seen["body"] = page.locator("body").inner_text()
        return seen

    seen = await in_browser(chromium, tmp_path, page_url(healthy), drive)
    print("page:", json.dumps({k: seen[k] for k in ("alert", "status", "closeCode", "state")}))
    assert seen["closeCode"] == 1011 and seen["state"] == "closed"
    assert secret not in seen["body"]
    assert [r.rejected_status for r in fake.connections] == [401]
