"""Admission and pacing decisions. Pure: the caller passes ``now`` in and does the waiting.

- :class:`SessionSlots`: how many sessions run, globally and per client IP; admission happens
  before the upgrade is accepted and before any upstream connection is made.
- :class:`AudioPacer`: a token bucket over audio duration. Microphone audio may arrive ahead of
  real time by at most ``burst_ms``; beyond that the client-reader waits (and so stops reading
  that client), which bounds what the relay buffers and what the upstream is sent.
"""

from __future__ import annotations

from collections import Counter

import attrs

from .realtime import BYTES_PER_MS


@attrs.define
class SessionSlots:
    max_sessions: int
    max_per_ip: int
    active: int = 0
    per_ip: Counter[str] = attrs.Factory(Counter)

    def refusal(self, ip: str) -> str | None:
        """Why a new session from ``ip`` cannot start now, or ``None`` if it can."""
        if self.active >= self.max_sessions:
            return f"the relay is at its limit of {self.max_sessions} sessions"
        if self.per_ip[ip] >= self.max_per_ip:
            return f"this client address is at its limit of {self.max_per_ip} sessions"
        return None

    def take(self, ip: str) -> None:
        self.active += 1
        self.per_ip[ip] += 1

    def give_back(self, ip: str) -> None:
        self.active -= 1
        self.per_ip[ip] -= 1
        if self.per_ip[ip] <= 0:
            del self.per_ip[ip]


class AudioPacer:
    def __init__(self, burst_ms: int, now: float) -> None:
        self.burst_s = burst_ms / 1000
        # The audio clock: the wall time up to which audio has been admitted.
        self._audio_until = now

    def delay(self, nbytes: int, now: float) -> float:
        """Admit ``nbytes`` of PCM16 audio; return how long to wait before forwarding it."""
        self._audio_until = max(self._audio_until, now) + nbytes / BYTES_PER_MS / 1000
        return max(0.0, self._audio_until - now - self.burst_s)
