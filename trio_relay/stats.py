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
    # What the upstream billed (trio_relay.usage kinds), and its estimated cost with PRICES.
    tokens: Counter[str] = attrs.Factory(Counter)
    transcription_s: float = 0.0
    estimated_cost_usd: float | None = None  # None: no price table
    unpriced: set[str] = attrs.Factory(set)  # kinds used that the price table does not price

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
            "tokens": dict(sorted(self.tokens.items())),
            "transcription_s": round(self.transcription_s, 3),
            **self._cost(),
        }

    def _cost(self) -> dict[str, object]:
        if self.estimated_cost_usd is None:
            return {}
        cost: dict[str, object] = {"estimated_cost_usd": round(self.estimated_cost_usd, 6)}
        if self.unpriced:
            cost["unpriced_usage"] = sorted(self.unpriced)
        return cost
