"""The energy VAD and the input audio buffer it cuts into turns."""

from __future__ import annotations

import struct

from fake_support import BYTES_PER_MS, speech_pcm

from fake_upstream.input_audio import InputAudioBuffer, TurnStarted, TurnStopped
from fake_upstream.session import DEFAULT_TURN_DETECTION
from fake_upstream.vad import WINDOW_BYTES, EnergyVad, SpeechStarted, SpeechStopped, window_level


def feed_in_frames(vad: EnergyVad, pcm: bytes, frame_bytes: int) -> list[object]:
    found: list[object] = []
    for start in range(0, len(pcm), frame_bytes):
        found += vad.feed(pcm[start : start + frame_bytes])
    return found


def test_levels_of_silence_quiet_noise_and_speech() -> None:
    speech = speech_pcm(lead_ms=0, speech_ms=20, tail_ms=0)
    assert window_level(bytes(WINDOW_BYTES)) == 0.0
    assert window_level(b"") == 0.0
    assert window_level(struct.pack("<480h", *([30, -30] * 240))) < 0.5  # about -60 dBFS
    assert window_level(speech) > 0.8
    assert window_level(struct.pack("<480h", *([32767, -32767] * 240))) == 1.0


def test_speech_between_silences_is_one_turn_with_padding_and_trailing_silence() -> None:
    vad = EnergyVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500)
    found = vad.feed(speech_pcm(lead_ms=500, speech_ms=1000, tail_ms=800))
    # Onset at 500 ms minus 300 ms of prefix padding; the end includes the 500 ms of silence.
    assert found == [SpeechStarted(200), SpeechStopped(2000)]
    assert not vad.speaking


def test_frame_size_does_not_change_what_is_detected() -> None:
    pcm = speech_pcm(lead_ms=500, speech_ms=1000, tail_ms=800)
    whole = EnergyVad(0.5, 300, 500).feed(pcm)
    for frame_bytes in (256, 960, 4801 * 2, 48_000):
        assert feed_in_frames(EnergyVad(0.5, 300, 500), pcm, frame_bytes) == whole


def test_silence_and_quiet_noise_are_not_speech() -> None:
    vad = EnergyVad(0.5, 300, 500)
    assert vad.feed(bytes(48_000 * 3)) == []
    assert vad.feed(speech_pcm(lead_ms=0, speech_ms=1000, tail_ms=0, amplitude=20)) == []


def test_prefix_padding_stops_at_the_start_of_the_audio() -> None:
    vad = EnergyVad(0.5, 300, 500)
    assert vad.feed(speech_pcm(lead_ms=100, speech_ms=200, tail_ms=0))[0] == SpeechStarted(0)


def test_a_short_pause_does_not_end_the_turn() -> None:
    pcm = speech_pcm(0, 400, 200) + speech_pcm(0, 400, 600)
    found = EnergyVad(0.5, 300, 500).feed(pcm)
    assert [type(e) for e in found] == [SpeechStarted, SpeechStopped]


def test_buffer_turn_holds_exactly_the_audio_between_start_and_end() -> None:
    ids = iter(f"item_{n}" for n in range(1, 10))
    buffer = InputAudioBuffer(lambda: next(ids))
    buffer.configure(DEFAULT_TURN_DETECTION)
    pcm = speech_pcm(lead_ms=700, speech_ms=1000, tail_ms=800)
    found = []
    for start in range(0, len(pcm), 4800):
        found += buffer.append(pcm[start : start + 4800])
    started, stopped = found
    assert isinstance(started, TurnStarted) and isinstance(stopped, TurnStopped)
    assert started.item_id == stopped.item_id == "item_1"
    begin, end = started.audio_start_ms * BYTES_PER_MS, stopped.audio_end_ms * BYTES_PER_MS
    assert (started.audio_start_ms, stopped.audio_end_ms) == (400, 2200)
    assert stopped.audio == pcm[begin:end]
    assert len(buffer) < len(pcm) - end + 1  # audio before the turn was not kept


def test_buffer_without_turn_detection_only_commits_by_hand() -> None:
    buffer = InputAudioBuffer(lambda: "item_1")
    buffer.configure(None)
    pcm = speech_pcm()
    assert buffer.append(pcm) == []
    assert buffer.commit() == ("item_1", pcm)
    assert len(buffer) == 0 and buffer.end_ms == len(pcm) // BYTES_PER_MS
