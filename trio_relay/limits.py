"""Admission and pacing decisions. Pure: the caller passes ``now`` in and does the waiting.

- :class:`SessionSlots`: how many sessions run, globally and per client IP; admission happens
  before the upgrade is accepted and before any upstream connection is made. This is the count
  of one process; with ``--workers N`` the workers share one count instead
  (:mod:`trio_relay.shared_slots`), behind the same methods.
- :class:`AudioPacer`: a token bucket over audio duration. Microphone audio may arrive ahead of
  real time by at most ``burst_ms``; beyond that the client-reader waits (and so stops reading
  that client), which bounds what the relay buffers and what the upstream is sent.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

import attrs

from .realtime import BYTES_PER_MS


class Slots(Protocol):
    """What the server uses. There is no separate ``take``: the check and the take are one step
    (with workers, two processes must not both pass the check for the last slot)."""

    def refusal(self, ip: str) -> str | None: ...
    def try_take(self, ip: str) -> str | None: ...
    def give_back(self, ip: str) -> None: ...


def capacity_refusal(
    active: int, from_ip: int, *, max_sessions: int, max_per_ip: int
) -> str | None:
    """Why one more session cannot start, given the sessions running now (all, and from its IP)."""
    if active >= max_sessions:
        return f"the relay is at its limit of {max_sessions} sessions"
    if from_ip >= max_per_ip:
        return f"this client address is at its limit of {max_per_ip} sessions"
    return None


@attrs.define
class SessionSlots:
    max_sessions: int
    max_per_ip: int
    active: int = 0
    per_ip: Counter[str] = attrs.Factory(Counter)

    def refusal(self, ip: str) -> str | None:
        """Why a new session from ``ip`` cannot start now, or ``None`` if it can."""
        return capacity_refusal(
            self.active, self.per_ip[ip], max_sessions=self.max_sessions, max_per_ip=self.max_per_ip
        )

    def try_take(self, ip: str) -> str | None:
        """Take a slot for ``ip`` if one is free (then ``None``), else say why not."""
        refusal = self.refusal(ip)
        if refusal is None:
            self._take(ip)
        return refusal

    def _take(self, ip: str) -> None:
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
