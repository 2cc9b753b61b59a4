"""Two relays' rounds paired: each figure per round, B - A and B / A, their medians; the tables.

Pairing by round takes out what drifts through a run (the machine warming up, other load coming
and going): each round's B is set against the A measured just before it, on the same fake, and
the median over rounds keeps one odd round from deciding. Pure: phase figures in, figures and
table text out.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from .figures import VOICE_LATENCIES, added_pair, fmt, mark, pair, signed


@attrs.frozen
class Figure:
    """One figure compared: its key in a phase's results, how the table names and prints it."""

    key: str
    label: str
    digits: int = 1


def latency_figures(key: str, label: str) -> tuple[Figure, ...]:
    return (
        Figure(f"{key}_p50_ms", f"{label} p50 ms"),
        Figure(f"{key}_p99_ms", f"{label} p99 ms"),
        Figure(f"{key}_added_p50_ms", f"{label} added over direct p50 ms"),
        Figure(f"{key}_added_p99_ms", f"{label} added over direct p99 ms"),
    )


CPU = Figure("relay_cpu_ms_per_session_s", "relay CPU ms per session-second", 2)
RSS = Figure("rss_per_session_kb", "relay RSS KB per session", 0)

# The latencies each mode compares (with direct, and between A and B), and every figure paired.
LATENCIES: dict[str, tuple[str, ...]] = {
    "audio": VOICE_LATENCIES,
    "text": ("first_text", "text_done"),
}
FIGURES: dict[str, tuple[Figure, ...]] = {
    "audio": (
        CPU,
        *latency_figures("speech_started", "speech_started"),
        *latency_figures("first_audio", "first reply audio"),
        RSS,
        Figure("kept", "sessions kept in real time", 0),
    ),
    "text": (
        CPU,
        *latency_figures("first_text", "first text"),
        *latency_figures("text_done", "text_done"),
        RSS,
        Figure("turns_per_s", "turns per second", 0),
    ),
}


def median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def quotient(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or a <= 0 else b / a


def pair_rounds(
    rounds: Sequence[tuple[dict[str, Any], dict[str, Any]]], figures: Iterable[Figure]
) -> dict[str, dict[str, Any]]:
    """For each figure: A's and B's values by round, B - A and B / A by round, the medians."""
    paired: dict[str, dict[str, Any]] = {}
    for figure in figures:
        a = [ra.get(figure.key) for ra, _ in rounds]
        b = [rb.get(figure.key) for _, rb in rounds]
        diffs = [difference(x, y) for x, y in zip(a, b, strict=True)]
        ratios = [quotient(x, y) for x, y in zip(a, b, strict=True)]
        paired[figure.key] = {
            "a": a,
            "b": b,
            "b_minus_a": diffs,
            "b_over_a": ratios,
            "a_median": median(a),
            "b_median": median(b),
            "b_minus_a_median": median(diffs),
            "b_over_a_median": median(ratios),
        }
    return paired


def phases_table(mode: str, rows: Sequence[tuple[int | None, str, dict[str, Any]]]) -> str:
    """One row per phase, in the order run: ``(round or None, "A" / "B" / "direct", figures)``."""
    first, second = LATENCIES[mode]
    names = {"first_audio": "first audio", "first_text": "first text"}
    head = (
        f"| round | phase | {'kept real time' if mode == 'audio' else 'turns/s'} | "
        f"relay CPU ms/session-s | {names.get(first, first)} p50 / p99 ms | added over direct | "
        f"{names.get(second, second)} p50 / p99 ms | added over direct | RSS KB/session | "
        "other CPU % |"
    )
    lines = [head, "|" + "---|" * 10]
    for number, name, r in rows:
        load = (
            f"{r['kept']}/{r['requested_sessions']}"
            if mode == "audio"
            else fmt(r["turns_per_s"], 0)
        )
        lines.append(
            f"| {'-' if number is None else number} | {name}{mark(r)} | {load} | "
            f"{fmt(r['relay_cpu_ms_per_session_s'], 2)} | "
            f"{pair(r[f'{first}_p50_ms'], r[f'{first}_p99_ms'])} | {added_pair(r, first)} | "
            f"{pair(r[f'{second}_p50_ms'], r[f'{second}_p99_ms'])} | {added_pair(r, second)} | "
            f"{fmt(r['rss_per_session_kb'], 0)} | {r['other_cpu_pct']:.0f}{mark(r)} |"
        )
    return "\n".join(lines)


def paired_table(paired: dict[str, dict[str, Any]], figures: Iterable[Figure]) -> str:
    """One row per figure: the medians of A and B, B - A by round, and the paired medians."""
    lines = [
        "| figure | A median | B median | B - A by round | B - A median | B / A median |",
        "|" + "---|" * 6,
    ]
    for figure in figures:
        p = paired[figure.key]
        by_round = " ".join(signed(d, figure.digits) for d in p["b_minus_a"])
        b_over_a = "-" if p["b_over_a_median"] is None else f"{p['b_over_a_median']:.2f}x"
        if "_added_" in figure.key:
            b_over_a = "-"  # a ratio of two near-zero differences would be noise
        lines.append(
            f"| {figure.label} | {fmt(p['a_median'], figure.digits)} | "
            f"{fmt(p['b_median'], figure.digits)} | {by_round} | "
            f"{signed(p['b_minus_a_median'], figure.digits)} | {b_over_a} |"
        )
    return "\n".join(lines)
