"""The fake's timing variants (fake_upstream/timing.py): seeded, deterministic orders and pacing
like the real API's, with time passed in."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import trio
from fake_support import (
    AUDIO_DELTA,
    DIALECTS,
    append_all,
    append_event,
    audio_of,
    events,
    kinds,
    of_kind,
    send,
    session_update,
    speech_pcm,
    started,
    user_text,
)

from fake_upstream import FakeUpstreamOptions, open_fake_upstream
from fake_upstream.engine import Engine
from fake_upstream.protocol import DialectName
from fake_upstream.timing import Timing, TimingOptions, Variant, timing_for, variant_for
from fake_upstream.validation import ClientEventError, validate_client_event

TRANSCRIBED = "conversation.item.input_audio_transcription.completed"
FAILED = "conversation.item.input_audio_transcription.failed"


def spoken_turns(dialect: DialectName, variant: Variant, seed: int, turns: int = 3) -> list[Any]:
    engine, out = started(dialect, model=f"{variant}-seed-{seed}")
    for _ in range(turns):
        out += append_all(engine, speech_pcm())
    return events(out)


def test_a_model_name_selects_a_variant_and_its_seed() -> None:
    assert variant_for("variant-late-transcription") == (Variant.LATE_TRANSCRIPTION, 0)
    assert variant_for("variant-late-transcription-seed-7") == (Variant.LATE_TRANSCRIPTION, 7)
    assert variant_for("variant-nonsense") is None
    assert variant_for("gpt-realtime") is None
    options = TimingOptions(Variant.MIXED, seed=3, time_scale=0.5)
    assert timing_for("gpt-realtime", options).variant is Variant.MIXED
    chosen = timing_for("variant-rate-limits-seed-2", options)
    assert (chosen.variant, chosen.seed, chosen.time_scale) == (Variant.RATE_LIMITS, 2, 0.5)


@pytest.mark.parametrize("variant", list(Variant))
def test_the_same_variant_and_seed_give_the_same_events(variant: Variant) -> None:
    assert spoken_turns("ga", variant, 5) == spoken_turns("ga", variant, 5)


def test_seeds_give_different_orders() -> None:
    orders = {tuple(kinds(spoken_turns("ga", Variant.MIXED, seed))) for seed in range(6)}
    assert len(orders) > 1


@pytest.mark.parametrize("dialect", DIALECTS)
def test_late_transcriptions_come_after_the_response_starts_and_each_turn_has_one(
    dialect: DialectName,
) -> None:
    positions = set()
    for seed in range(8):
        out = spoken_turns(dialect, Variant.LATE_TRANSCRIPTION, seed)
        types = [e["type"] for e in out]
        assert types.count(TRANSCRIBED) == 3 and FAILED not in types
        for done in of_kind(out, TRANSCRIBED):
            at = out.index(done)
            started_at = max(
                i for i, e in enumerate(out[:at]) if e["type"] == "input_audio_buffer.committed"
            )
            # Always after its own turn's response.created (late), never before.
            assert "response.created" in types[started_at:at]
            after_done = "response.done" in types[started_at:at]
            positions.add(after_done)
    assert positions == {True, False}  # both mid-response and after response.done occur


def test_a_failed_transcription_replaces_the_transcript() -> None:
    out = spoken_turns("ga", Variant.TRANSCRIPTION_FAILED, 1)
    failures = of_kind(out, FAILED)
    assert len(failures) == 3 and not of_kind(out, TRANSCRIBED)
    assert failures[0]["error"]["code"] == "audio_unintelligible"
    assert not of_kind(out, "conversation.item.input_audio_transcription.delta")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_realistic_audio_deltas_vary_in_size_and_still_echo_the_turn(
    dialect: DialectName,
) -> None:
    engine, out = started(dialect, model="variant-realistic-audio-seed-4")
    pcm = speech_pcm(lead_ms=500, speech_ms=2000, tail_ms=500)
    out += append_all(engine, pcm)
    sizes = [len(base64.b64decode(e["delta"])) for e in of_kind(out, AUDIO_DELTA[dialect])]
    assert len(set(sizes)) > 2
    assert all(50 * 48 <= size <= 200 * 48 for size in sizes[:-1])
    assert all(size % 2 == 0 for size in sizes)
    echoed = audio_of(out, dialect)
    assert len(echoed) > 24000 and echoed in pcm


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def paced_turn(variant: Variant, seed: int) -> tuple[list[tuple[float, dict[str, Any]]], float]:
    """The response to a spoken turn, each event with the time it was handed out, as a shell
    that sleeps until ``wake_at`` would see it; and the time the turn was committed."""
    clock = FakeClock()
    engine = Engine("ga", f"{variant}-seed-{seed}", clock=clock)
    engine.open()
    send(engine, session_update("ga"))
    timed: list[tuple[float, dict[str, Any]]] = []
    pcm = speech_pcm(lead_ms=500, speech_ms=2000, tail_ms=500)
    for start in range(0, len(pcm), 4800):
        chunk = base64.b64encode(pcm[start : start + 4800]).decode()
        engine.receive_frame(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
    committed = clock.now
    while True:
        output = engine.next_output()
        if isinstance(output, dict):
            timed.append((clock.now, output))
            continue
        assert output is None
        if engine.wake_at is None:
            return timed, committed
        assert engine.wake_at > clock.now
        clock.now = engine.wake_at


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paced_audio_comes_faster_than_real_time_but_not_at_once(seed: int) -> None:
    timed, _ = paced_turn(Variant.REALISTIC_AUDIO, seed)
    deltas = [(at, e) for at, e in timed if e["type"] == "response.output_audio.delta"]
    audio_s = sum(len(base64.b64decode(e["delta"])) for _, e in deltas) / 48_000
    took = deltas[-1][0] - deltas[0][0]
    assert 0 < took < audio_s
    assert [e["type"] for _, e in timed][-1] in {"response.done", "rate_limits.updated"}


def test_slow_first_audio_waits_before_the_first_delta() -> None:
    timed, committed = paced_turn(Variant.SLOW_FIRST_AUDIO, 0)
    created = next(at for at, e in timed if e["type"] == "response.created")
    first = next(at for at, e in timed if e["type"] == "response.output_audio.delta")
    assert created == committed and first - created >= 0.5


def test_a_cancel_while_a_response_waits_ends_it_at_once() -> None:
    clock = FakeClock()
    engine = Engine("ga", "variant-slow-first-audio", clock=clock)
    engine.open()
    send(engine, session_update("ga", turn_detection=None))
    send(engine, {"type": "response.create"})
    while engine.next_output() is not None:
        pass
    assert engine.wake_at is not None
    out = send(engine, {"type": "response.cancel"})
    assert kinds(out)[-2:] == ["response.done", "rate_limits.updated"]
    assert of_kind(out, "response.done")[0]["response"]["status"] == "cancelled"
    assert engine.wake_at is None and not engine.response_active


def test_rate_limits_come_at_various_points() -> None:
    places = set()
    for seed in range(6):
        engine, out = started("ga", model=f"variant-rate-limits-seed-{seed}")
        for _ in range(2):
            out += send(engine, {"type": "response.create"})
        types = kinds(out)
        assert types.count("rate_limits.updated") == 2
        for at, kind in enumerate(types):
            if kind == "rate_limits.updated":
                places.add((types[at - 1], types[at + 1] if at + 1 < len(types) else None))
    before = {after for _, after in places}
    assert "response.created" in before  # before response.created
    assert any(previous == "response.created" for previous, _ in places)
    assert any(previous == "response.done" for previous, _ in places)


def test_a_beta_session_may_turn_detection_off_the_way_azure_rtclient_does() -> None:
    update = {"type": "session.update", "session": {"turn_detection": {"type": "none"}}}
    validate_client_event("beta", update)
    engine, _ = started("beta", model="gpt-4o-realtime-preview")
    [updated] = send(engine, update)
    assert isinstance(updated, dict) and updated["type"] == "session.updated"
    assert updated["session"]["turn_detection"] is None
    # ... and then the turn is committed by hand, as without turn detection.
    out = append_all(engine, speech_pcm())
    assert "input_audio_buffer.speech_started" not in kinds(out)
    ga_off = {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "none"}}}}
    with pytest.raises(ClientEventError):  # Azure's spelling is beta only
        validate_client_event("ga", {"type": "session.update", "session": ga_off})


def test_without_a_variant_the_transcription_comes_before_the_response() -> None:
    engine, out = started("ga")
    types = kinds(out + append_all(engine, speech_pcm()))
    assert types.index(TRANSCRIBED) < types.index("response.created")
    assert types[-2:] == ["response.done", "rate_limits.updated"]


def test_the_command_line_chooses_a_variant_for_every_connection() -> None:
    from fake_upstream.__main__ import parse_args

    args = parse_args(["--variant", "variant-late-transcription", "--seed", "4"])
    assert (args.variant, args.seed) == (Variant.LATE_TRANSCRIPTION, 4)
    assert parse_args([]).variant is None
    with pytest.raises(SystemExit):
        parse_args(["--variant", "variant-nonsense"])


SLOW = TimingOptions(Variant.SLOW_FIRST_AUDIO, seed=0)


async def served_text_turn(*, cancel: bool) -> list[tuple[float, dict[str, Any]]]:
    """A typed turn on the fake's WebSocket server, every event with the time it came."""
    from trio_websocket import open_websocket_url

    timed: list[tuple[float, dict[str, Any]]] = []
    async with open_fake_upstream(options=FakeUpstreamOptions(timing=SLOW)) as fake:
        headers = [(b"authorization", b"Bearer sk-test")]
        url = f"{fake.url}/v1/realtime?model=gpt-realtime"
        with trio.fail_after(10):
            async with open_websocket_url(url, extra_headers=headers) as ws:
                for event in [session_update("ga"), user_text("hi"), {"type": "response.create"}]:
                    await ws.send_message(json.dumps(event))
                while not timed or timed[-1][1]["type"] != "response.done":
                    event = json.loads(await ws.get_message())
                    timed.append((trio.current_time(), event))
                    if cancel and event["type"] == "response.content_part.added":
                        await ws.send_message(json.dumps({"type": "response.cancel"}))
    return timed


async def test_the_server_waits_before_a_slow_first_delta() -> None:
    delay = Timing(SLOW.variant, SLOW.seed, SLOW.time_scale).response(None).first_delta_delay_s
    assert delay >= 0.5
    timed = await served_text_turn(cancel=False)
    created = next(at for at, e in timed if e["type"] == "response.created")
    first = next(at for at, e in timed if e["type"].endswith(".delta"))
    assert first - created >= delay * 0.9


async def test_the_server_reads_a_cancel_while_a_response_waits() -> None:
    delay = Timing(SLOW.variant, SLOW.seed, SLOW.time_scale).response(None).first_delta_delay_s
    timed = await served_text_turn(cancel=True)
    created = next(at for at, e in timed if e["type"] == "response.created")
    done_at, done = timed[-1]
    assert done["response"]["status"] == "cancelled"
    assert not [e for _, e in timed if e["type"].endswith(".delta")]
    assert done_at - created < delay


def late_seed(where: str) -> int:
    """A seed whose first turn's transcription comes ``where`` (late-transcription variant)."""
    return next(
        seed
        for seed in range(50)
        if Timing(Variant.LATE_TRANSCRIPTION, seed).turn().transcription.value == where
    )


def test_a_manual_commits_late_transcription_comes_with_the_next_response() -> None:
    model = f"variant-late-transcription-seed-{late_seed('after_created')}"
    engine, _ = started("ga", model=model, update=session_update("ga", turn_detection=None))
    append_all(engine, speech_pcm())
    committed = kinds(send(engine, {"type": "input_audio_buffer.commit"}))
    assert TRANSCRIBED not in committed and "conversation.item.done" in committed
    types = kinds(send(engine, {"type": "response.create"}))
    assert types.index("response.created") < types.index(TRANSCRIBED)


def test_a_transcription_due_mid_response_still_comes_if_the_response_is_cut_short() -> None:
    model = f"variant-late-transcription-seed-{late_seed('mid_response')}"
    engine, _ = started("ga", model=model)
    for start in range(0, len(pcm := speech_pcm()), 4800):
        engine.receive_frame(json.dumps(append_event(pcm[start : start + 4800])))
    before: list[dict[str, Any]] = []
    while not before or before[-1]["type"] != "response.content_part.added":
        output = engine.next_output()
        assert isinstance(output, dict)
        before.append(output)
    assert TRANSCRIBED not in kinds(before)
    types = kinds(send(engine, {"type": "response.cancel"}))  # before any delta
    assert types.count(TRANSCRIBED) == 1
    assert types.index("response.done") < types.index(TRANSCRIBED)
