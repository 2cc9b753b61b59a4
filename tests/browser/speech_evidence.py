"""Is this audio the fixture's speech? Loudness and spectral variety of PCM16 24 kHz audio, so a
browser test can tell the fixture's speech from zeros (a wrong path), Chromium's beep or a
tone (no file flag), or an endless signal."""

from __future__ import annotations

import array
import math
import sys

RATE = 24000
WINDOW = RATE // 50  # 20 ms


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
