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


def busy(r: dict[str, Any]) -> str:
    return f"{r['machine_cpu_pct']:.0f} ({r['other_cpu_pct']:.0f})"
