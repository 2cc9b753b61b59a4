"""Per-session counters: plain integers on the hot path, read by logs and ``/metrics``. Pure."""

from __future__ import annotations

from collections import Counter

import attrs

from .realtime import BYTES_PER_MS

DIRECTIONS = ("client_in", "client_out", "upstream_in", "upstream_out")


@attrs.define(slots=True)
class SessionStats:
    started_at: float
    client_in_bytes: int = 0
    client_in_frames: int = 0
    client_out_bytes: int = 0
    client_out_frames: int = 0
    upstream_in_bytes: int = 0
    upstream_in_frames: int = 0
    upstream_out_bytes: int = 0
    upstream_out_frames: int = 0
    audio_in_bytes: int = 0
    audio_out_bytes: int = 0
    turns: int = 0
    upstream_connect_s: float | None = None
    first_audio_s: float | None = None

    def add_traffic_to(self, totals: Counter[str]) -> None:
        for direction in DIRECTIONS:
            totals[f"{direction}_bytes"] += getattr(self, f"{direction}_bytes")
            totals[f"{direction}_frames"] += getattr(self, f"{direction}_frames")

    def summary(self, now: float) -> dict[str, object]:
        """The fields of the session's end log line."""
        return {
            "duration_s": round(now - self.started_at, 3),
            "bytes_in": self.client_in_bytes,
            "bytes_out": self.client_out_bytes,
            "audio_in_s": round(self.audio_in_bytes / BYTES_PER_MS / 1000, 3),
            "audio_out_s": round(self.audio_out_bytes / BYTES_PER_MS / 1000, 3),
            "turns": self.turns,
            "upstream_connect_s": (
                None if self.upstream_connect_s is None else round(self.upstream_connect_s, 3)
            ),
            "first_audio_s": None if self.first_audio_s is None else round(self.first_audio_s, 3),
        }
