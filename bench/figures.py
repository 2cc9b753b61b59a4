"""Formatting the figures: numbers, pairs and ratios as the tables print them. No I/O here."""

from __future__ import annotations

from typing import Any


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "-"
    return f"{a / b:.2f}x"


def pair(a: float | None, b: float | None, digits: int = 1) -> str:
    return f"{fmt(a, digits)} / {fmt(b, digits)}"


MARK = "*"


def mark(*phases: dict[str, Any] | None) -> str:
    """``*`` when any of the phases was disturbed: the tables' mark on a row not to trust."""
    return MARK if any(p is not None and p.get("disturbed") for p in phases) else ""


def busy(r: dict[str, Any]) -> str:
    """The machine's busy CPU and, in brackets, other programs' share (% of a core)."""
    return f"{r['machine_cpu_pct']:.0f} ({r['other_cpu_pct']:.0f}){mark(r)}"


def signed(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def signed_pair(a: float | None, b: float | None, digits: int = 1) -> str:
    return f"{signed(a, digits)} / {signed(b, digits)}"


# The voice latencies a relay adds to every turn; issue 14's goal is stated in ms over direct.
VOICE_LATENCIES = ("speech_started", "first_audio")


def added_over_direct(
    relay: dict[str, Any],
    direct: dict[str, Any] | None,
    latencies: tuple[str, ...] = VOICE_LATENCIES,
) -> dict[str, Any]:
    """``{key}_added_{p50,p99}_ms``: the relay's latency minus the direct run's, in ms.

    A ratio hides what a user hears: x20 over a 3 ms floor is 57 ms on every voice turn, and the
    same 57 ms over a 60 ms floor would read as x1.95. None where a figure is missing (no direct).
    """
    added: dict[str, Any] = {}
    for key in latencies:
        for q in ("p50", "p99"):
            mine = relay.get(f"{key}_{q}_ms")
            floor = direct.get(f"{key}_{q}_ms") if direct else None
            added[f"{key}_added_{q}_ms"] = (
                None if mine is None or floor is None else round(mine - floor, 3)
            )
    return added


def added_pair(added: dict[str, Any], key: str) -> str:
    """``+p50 / +p99`` of one voice latency from :func:`added_over_direct`'s figures."""
    return signed_pair(added.get(f"{key}_added_p50_ms"), added.get(f"{key}_added_p99_ms"))
