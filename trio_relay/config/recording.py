"""``--record DIR``: where sessions are recorded and how much of them. Pure: no I/O here."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .env import flag, whole_number


@attrs.frozen
class Recording:
    """``--record DIR``: each session's streams as JSON Lines in ``dir`` (see trio_relay.record)."""

    dir: str | None = None  # None: recording is off
    keep_audio: bool = False  # RECORD_AUDIO=1: audio recorded as base64, not as its length
    buffer_bytes: int = 4 * 1024 * 1024  # per session; past it, lines are dropped and counted


def recording_from_env(env: Mapping[str, str]) -> Recording:
    d = Recording()
    return Recording(
        dir=env.get("RECORD_DIR", "").strip() or None,
        keep_audio=flag(env, "RECORD_AUDIO", d.keep_audio),
        buffer_bytes=whole_number(env, "RECORD_BUFFER_BYTES", d.buffer_bytes, minimum=1024),
    )
