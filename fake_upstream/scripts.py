"""What the fake assistant says. Pure and deterministic: the same input gives the same answer."""

from __future__ import annotations

import math
import struct

RATE = 24000
BYTES_PER_MS = RATE * 2 // 1000
AUDIO_CHUNK_BYTES = 100 * BYTES_PER_MS  # deltas of 100 ms, like the real service's


def text_reply(user_text: str) -> str:
    return f"You said: {user_text.strip()}"


def audio_reply_transcript(seconds: float) -> str:
    return f"I heard {seconds:.2f} seconds of audio."


def input_transcript(seconds: float) -> str:
    return f"[speech {seconds:.2f} s]"


def words(text: str) -> list[str]:
    """``text`` split into deltas that concatenate back to it exactly."""
    pieces = text.split(" ")
    return [piece if i == 0 else " " + piece for i, piece in enumerate(pieces)]


def spoken(text: str) -> bytes:
    """A quiet, deterministic 'voice' for a text answer: a soft tone, 80 ms per word."""
    duration_ms = max(300, 80 * len(text.split()))
    count = RATE * duration_ms // 1000
    samples = (int(2000 * math.sin(2 * math.pi * 220 * n / RATE)) for n in range(count))
    return struct.pack(f"<{count}h", *samples)


def chunks(pcm: bytes, size: int = AUDIO_CHUNK_BYTES) -> list[bytes]:
    return [pcm[i : i + size] for i in range(0, len(pcm), size)] or [b""]


def split_in(pcm: bytes, parts: int) -> list[bytes]:
    """``pcm`` in ``parts`` nearly equal, even-length pieces."""
    step = max(2, (len(pcm) // parts) & ~1)
    pieces = [pcm[i * step : (i + 1) * step] for i in range(parts - 1)]
    return [*pieces, pcm[(parts - 1) * step :]]
