"""What the fake assistant says and how it sounds. Pure and deterministic: the same input gives
the same answer, byte for byte, in every run.
"""

from __future__ import annotations

import base64
import math
import struct
from functools import cache

RATE = 24000
BYTES_PER_MS = RATE * 2 // 1000  # PCM16 mono: 48 bytes per millisecond
AUDIO_CHUNK_BYTES = 100 * BYTES_PER_MS  # audio deltas of 100 ms, like the real service's
SPOKEN_MS_PER_WORD = 80
SPOKEN_MIN_MS = 300
TONE_HZ = 200  # divides 24 kHz: one period is exactly 120 samples
TONE_AMPLITUDE = 2000  # quiet: about -24 dBFS
BENCH_AUDIO_DELTAS = 10
BENCH_TRANSCRIPT = ("This ", "is ", "a ", "bench ", "reply.")


def text_reply(user_text: str) -> str:
    """The answer to a text turn."""
    text = user_text.strip()
    return f"You said: {text}" if text else "Hello! How can I help?"


def audio_reply_transcript(seconds: float) -> str:
    """The transcript of the answer to a spoken turn (whose audio echoes the user's)."""
    return f"I heard {seconds:.2f} seconds of audio."


def input_transcript(seconds: float) -> str:
    """The 'transcription' of a spoken user turn."""
    return f"[speech {seconds:.2f} s]"


def seconds_of(pcm_bytes: int) -> float:
    return pcm_bytes / BYTES_PER_MS / 1000


def words(text: str) -> list[str]:
    """``text`` split into word deltas that concatenate back to it exactly."""
    pieces = text.split(" ")
    return [piece if i == 0 else " " + piece for i, piece in enumerate(pieces)]


@cache
def _tone_period() -> bytes:
    period = RATE // TONE_HZ
    samples = [int(TONE_AMPLITUDE * math.sin(2 * math.pi * n / period)) for n in range(period)]
    return struct.pack(f"<{period}h", *samples)


def spoken(text: str) -> bytes:
    """The 'voice' of a text answer: a quiet tone, 80 ms per word (300 ms at least)."""
    duration_ms = max(SPOKEN_MIN_MS, SPOKEN_MS_PER_WORD * len(text.split()))
    size = duration_ms * BYTES_PER_MS
    period = _tone_period()
    return (period * (size // len(period) + 1))[:size]


def chunks(pcm: bytes, size: int = AUDIO_CHUNK_BYTES) -> list[bytes]:
    """``pcm`` in deltas of ``size`` bytes (the last one shorter); never an empty list."""
    return [pcm[i : i + size] for i in range(0, len(pcm), size)] or [b""]


def chunks_of(pcm: bytes, sizes: tuple[int, ...]) -> list[bytes]:
    """``pcm`` cut in deltas of these sizes (which add up to its length)."""
    pieces, start = [], 0
    for size in sizes:
        pieces.append(pcm[start : start + size])
        start += size
    return pieces or [b""]


@cache
def bench_reply(reply_audio_ms: int) -> tuple[tuple[str, int], ...]:
    """The benchmark answer: ``reply_audio_ms`` of quiet tone in 10 base64 deltas, computed once
    per duration and shared by every session, so that the fake stays cheap under load."""
    total = reply_audio_ms * BYTES_PER_MS
    step = (total // BENCH_AUDIO_DELTAS) & ~1
    sizes = [step] * (BENCH_AUDIO_DELTAS - 1) + [total - step * (BENCH_AUDIO_DELTAS - 1)]
    period = _tone_period()
    tone = (period * (max(sizes) // len(period) + 1))[: max(sizes)]
    encoded = {size: base64.b64encode(tone[:size]).decode() for size in set(sizes)}
    return tuple((encoded[size], size) for size in sizes)
