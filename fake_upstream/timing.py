"""Seeded variants of the orders and timings the real Realtime API produces, chosen per
connection by the model (OpenAI) or deployment (Azure) name, like the faults
(:mod:`.faults`), or for every connection by :class:`TimingOptions`. Pure: no clock and no I/O;
the engine asks a :class:`Timing` how to lay out each turn and response, and the delays it
gives are seconds for the shell to wait (the engine is handed a clock; the shell sleeps).

The same variant and seed give the same choices, turn by turn, in every run. The default (no
variant) is the fake's original behaviour: the input transcription before ``response.created``,
audio deltas of 100 ms sent as fast as possible, ``rate_limits.updated`` after ``response.done``.

| name                           | what changes                                                 |
|--------------------------------|--------------------------------------------------------------|
| ``variant-realistic-audio``    | audio deltas of 50-200 ms each, paced 1.5-4x faster than     |
|                                | real time                                                    |
| ``variant-slow-first-audio``   | 0.5-2 s before a response's first delta, then paced deltas   |
| ``variant-late-transcription`` | the input transcription comes after ``response.created``,    |
|                                | mid-response (after 1-3 deltas) or after ``response.done``   |
| ``variant-transcription-failed`` | ``...input_audio_transcription.failed`` instead of the     |
|                                | transcript, at any of those points or before the response    |
| ``variant-rate-limits``        | ``rate_limits.updated`` before ``response.created``, right   |
|                                | after it, or after ``response.done``                         |
| ``variant-mixed``              | each of the above drawn turn by turn (a quarter of the       |
|                                | transcriptions fail)                                         |

A seed follows the name: ``variant-late-transcription-seed-7`` (seed 0 without one). Why these:
the real API transcribes the user's audio in parallel with the response, so the transcript
often arrives late, even after ``response.done``; its audio deltas vary in size and come faster
than real time; the first audio can take a second or two.
"""

from __future__ import annotations

import random
import re
from enum import StrEnum

import attrs

from .scripts import AUDIO_CHUNK_BYTES, BYTES_PER_MS


class Variant(StrEnum):
    REALISTIC_AUDIO = "variant-realistic-audio"
    SLOW_FIRST_AUDIO = "variant-slow-first-audio"
    LATE_TRANSCRIPTION = "variant-late-transcription"
    TRANSCRIPTION_FAILED = "variant-transcription-failed"
    RATE_LIMITS = "variant-rate-limits"
    MIXED = "variant-mixed"


class Where(StrEnum):
    """Where an event lands relative to the response it goes with."""

    BEFORE_RESPONSE = "before_response"  # before response.created
    AFTER_CREATED = "after_created"  # right after response.created
    MID_RESPONSE = "mid_response"  # after a few of its deltas
    AFTER_DONE = "after_done"  # after response.done


@attrs.frozen
class Wait:
    """Say nothing more for ``seconds`` (the engine's own marker: it never reaches the shell)."""

    seconds: float


@attrs.frozen
class TimingOptions:
    """The variant of every connection whose model or deployment name selects none."""

    variant: Variant | None = None
    seed: int = 0
    time_scale: float = 1.0  # every delay is multiplied by this (tests keep it small)


@attrs.frozen
class TurnPlan:
    """How a spoken turn's input transcription comes."""

    transcription: Where = Where.BEFORE_RESPONSE
    fails: bool = False
    after_deltas: int = 1  # MID_RESPONSE: after this many deltas of the response


@attrs.frozen
class ResponsePlan:
    """How a response comes: the sizes of its audio deltas (whole samples, covering the audio),
    the wait before its first delta and before each later audio delta, and where its
    ``rate_limits.updated`` goes."""

    chunk_bytes: tuple[int, ...]
    first_delta_delay_s: float = 0.0
    audio_delays_s: tuple[float, ...] = ()  # before audio delta i (the first is 0)
    rate_limits: Where = Where.AFTER_DONE


_NAME = re.compile(r"^(variant-[a-z-]+?)(?:-seed-(\d+))?$")
_PACED = {Variant.REALISTIC_AUDIO, Variant.SLOW_FIRST_AUDIO, Variant.MIXED}
_LATE = (Where.AFTER_CREATED, Where.MID_RESPONSE, Where.AFTER_DONE)
MIN_DELTA_MS, MAX_DELTA_MS = 50, 200
MIN_SPEEDUP, MAX_SPEEDUP = 1.5, 4.0  # audio deltas come this much faster than real time
SLOW_FIRST_S = (0.5, 2.0)
MIXED_FAILURE_RATE = 0.25


class Timing:
    """The choices of one connection, drawn in order from one seeded generator."""

    def __init__(
        self, variant: Variant | None = None, seed: int = 0, time_scale: float = 1.0
    ) -> None:
        self.variant = variant
        self.seed = seed
        self.time_scale = time_scale
        # A string seed hashes the same in every process (no PYTHONHASHSEED involved).
        self._rng = random.Random(f"{variant}:{seed}")

    @property
    def paced(self) -> bool:
        """Whether any delay can come (the engine needs a clock only then)."""
        return self.variant in _PACED

    def turn(self) -> TurnPlan:
        rng, variant = self._rng, self.variant
        if variant is Variant.LATE_TRANSCRIPTION:
            return TurnPlan(rng.choice(_LATE), after_deltas=rng.randint(1, 3))
        if variant is Variant.TRANSCRIPTION_FAILED:
            where = rng.choice((Where.BEFORE_RESPONSE, *_LATE))
            return TurnPlan(where, fails=True, after_deltas=rng.randint(1, 3))
        if variant is Variant.MIXED:
            where = rng.choice((Where.BEFORE_RESPONSE, *_LATE))
            fails = rng.random() < MIXED_FAILURE_RATE
            return TurnPlan(where, fails=fails, after_deltas=rng.randint(1, 3))
        return TurnPlan()

    def response(self, audio_bytes: int | None) -> ResponsePlan:
        """The plan of a response with ``audio_bytes`` of audio (None: a text response)."""
        rng, variant, scale = self._rng, self.variant, self.time_scale
        rate_limits = Where.AFTER_DONE
        if variant in (Variant.RATE_LIMITS, Variant.MIXED):
            rate_limits = rng.choice((Where.BEFORE_RESPONSE, Where.AFTER_CREATED, Where.AFTER_DONE))
        if variant not in _PACED:
            return ResponsePlan(_fixed_chunks(audio_bytes or 0), rate_limits=rate_limits)
        first = 0.0
        if variant is Variant.SLOW_FIRST_AUDIO or (variant is Variant.MIXED and rng.random() < 0.5):
            first = rng.uniform(*SLOW_FIRST_S) * scale
        sizes = _varied_chunks(rng, audio_bytes or 0)
        speedup = rng.uniform(MIN_SPEEDUP, MAX_SPEEDUP)
        delays = [0.0] + [size / BYTES_PER_MS / 1000 / speedup * scale for size in sizes[:-1]]
        return ResponsePlan(sizes, first, tuple(delays), rate_limits)


def _fixed_chunks(total: int) -> tuple[int, ...]:
    full, rest = divmod(total, AUDIO_CHUNK_BYTES)
    return (AUDIO_CHUNK_BYTES,) * full + ((rest,) if rest or not full else ())


def _varied_chunks(rng: random.Random, total: int) -> tuple[int, ...]:
    sizes: list[int] = []
    left = total
    while left > 0:
        size = min(left, rng.randint(MIN_DELTA_MS, MAX_DELTA_MS) * BYTES_PER_MS)
        sizes.append(size)
        left -= size
    return tuple(sizes) or (0,)


def variant_for(model: str | None) -> tuple[Variant, int] | None:
    """The variant and seed a model or deployment name selects, if any."""
    found = _NAME.match(model or "")
    if found is None:
        return None
    try:
        variant = Variant(found.group(1))
    except ValueError:
        return None
    return variant, int(found.group(2) or 0)


def timing_for(model: str | None, options: TimingOptions | None = None) -> Timing:
    """The timing of a connection: its model name's variant, else the options' (else none)."""
    options = options or TimingOptions()
    chosen = variant_for(model)
    if chosen is not None:
        return Timing(*chosen, time_scale=options.time_scale)
    return Timing(options.variant, options.seed, options.time_scale)
