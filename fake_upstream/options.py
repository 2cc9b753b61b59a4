"""How the fake upstream is configured, and the engine each admitted connection gets under that
configuration. Both shells (the Trio one in :mod:`.server`, the asyncio one in
:mod:`.asyncio_shell`) call :func:`new_engine`, so the two answer a connection alike. Pure: the
shell passes its own clock in.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from .engine import Engine
from .faults import fault_for
from .replay import Replay, Replayer
from .routing import Route
from .timing import TimingOptions


@attrs.frozen
class FakeUpstreamOptions:
    # The exact key required (Bearer token or api-key); None: any non-empty credential.
    api_key: str | None = attrs.field(default=None, repr=False)
    # Benchmark mode: every N bytes of appended audio is one complete turn, without a VAD.
    turn_trigger_bytes: int | None = None
    validate_client_events: bool = True
    reply_audio_ms: int = 1000  # benchmark mode: the length of every answer
    # Keep every event of every connection (tests); off for long demos and benchmarks.
    record_events: bool = True
    # Answer every connection from this recording instead of the engine (--replay FILE).
    replay: Replay | None = None
    # Orders and pacing for connections whose model names no variant (fake_upstream/timing.py).
    timing: TimingOptions = TimingOptions()
    # What the user "says" in each connection's successive spoken turns (their transcripts, and
    # the text read for tool triggers: fake_upstream/triggers.py); later turns as without.
    spoken_texts: tuple[str, ...] = attrs.field(default=(), converter=tuple)


def new_engine(
    route: Route, options: FakeUpstreamOptions, clock: Callable[[], float]
) -> Engine | Replayer:
    """What answers one admitted connection: the recording (``--replay``), else the scripted
    engine for the route's dialect and model (its fault and timing variant come from the
    model name). ``clock`` is the shell's, in seconds: the engine's pacing
    (:attr:`Engine.wake_at`) is on it."""
    if options.replay is not None:
        return options.replay.start()
    return Engine(
        route.dialect,
        route.model,
        fault=fault_for(route.model),
        turn_trigger_bytes=options.turn_trigger_bytes,
        reply_audio_ms=options.reply_audio_ms,
        validate=options.validate_client_events,
        timing=options.timing,
        clock=clock,
        spoken_texts=options.spoken_texts,
    )
