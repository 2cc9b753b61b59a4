"""The reports: the side-by-side tables of ``bench run``, the sweep's tables, the JSON file."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .figures import added_over_direct, added_pair, busy, fmt, mark, pair, ratio
from .orchestrate import log


def machine() -> dict[str, Any]:
    model = "?"
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        model = found.group(1).strip() if found else "?"
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def write_json(args: argparse.Namespace, report: dict[str, Any]) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        log(f"[bench] results written to {args.json}")


def print_audio(relay: dict[str, Any] | None, direct: dict[str, Any] | None) -> None:
    def col(r: dict[str, Any] | None, get: Callable[[dict[str, Any]], str]) -> str:
        return get(r) if r is not None else "-"

    rows: list[tuple[str, Callable[[dict[str, Any]], str], str]] = [
        (
            "sessions connected / completed",
            lambda r: f"{r['connected']} / {r['completed']}",
            "",
        ),
        ("sessions kept in real time", lambda r: str(r["kept"]), ""),
        ("turns measured (no answer)", lambda r: f"{r['turns']} ({r['missed_turns']})", ""),
        (
            "speech_started p50 / p99 ms",
            lambda r: pair(r["speech_started_p50_ms"], r["speech_started_p99_ms"]),
            "speech_started",
        ),
        (
            "first reply audio p50 / p99 ms",
            lambda r: pair(r["first_audio_p50_ms"], r["first_audio_p99_ms"]),
            "first_audio",
        ),
        ("first reply audio max ms", lambda r: fmt(r["first_audio_max_ms"]), ""),
        (
            "generator: frames >100 ms late (max ms)",
            lambda r: f"{r['late_frames']} ({fmt(r['max_sent_late_ms'])})",
            "",
        ),
        ("generator: loop lag p99 ms", lambda r: fmt(r["generator_loop_lag_p99_ms"]), ""),
        ("frames held back by the server", lambda r: str(r["backpressured_frames"]), ""),
        ("generator CPU % of a core", lambda r: fmt(r["generator_cpu_pct"], 0), ""),
        ("relay CPU ms per session-second", lambda r: fmt(r["relay_cpu_ms_per_session_s"], 2), ""),
        ("relay CPU % of a core", lambda r: fmt(r["relay_cpu_pct"], 0), ""),
        (
            "relay CPU % by process",
            lambda r: " ".join(f"{v:.0f}" for v in r["relay_cpu_pct_by_process"] or []),
            "",
        ),
        (
            "relay RSS KB per session (peak - idle)",
            lambda r: fmt(r["rss_per_session_kb"], 0),
            "",
        ),
        (
            "fake upstream CPU ms per session-second",
            lambda r: fmt(r["upstream_cpu_ms_per_session_s"], 2),
            "",
        ),
        ("machine CPU % busy (not ours)", busy, ""),
        ("errors from the server", lambda r: json.dumps(r["errors"]) if r["errors"] else "0", ""),
    ]
    added = added_over_direct(relay, direct) if relay and direct else {}
    print(
        f"{'':44} {'relay' + mark(relay):>22} {'direct' + mark(direct):>22} "
        f"{'relay/direct':>16} {'relay - direct ms':>18}"
    )
    for name, get, key in rows:
        ratios = more = ""
        if key and relay and direct:
            ratios = (
                f"{ratio(relay[f'{key}_p50_ms'], direct[f'{key}_p50_ms'])} / "
                f"{ratio(relay[f'{key}_p99_ms'], direct[f'{key}_p99_ms'])}"
            )
            more = added_pair(added, key)
        print(f"{name:44} {col(relay, get):>22} {col(direct, get):>22} {ratios:>16} {more:>18}")


def print_text(relay: dict[str, Any] | None, direct: dict[str, Any] | None) -> None:
    def col(r: dict[str, Any] | None, get: Callable[[dict[str, Any]], str]) -> str:
        return get(r) if r is not None else "-"

    def lat(key: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: (
            f"{fmt(r[f'{key}_p50_ms'], 2)} / {fmt(r[f'{key}_p90_ms'], 2)} / "
            f"{fmt(r[f'{key}_p99_ms'], 2)}"
        )

    rows: list[tuple[str, Callable[[dict[str, Any]], str], str]] = [
        ("sessions connected / completed", lambda r: f"{r['connected']} / {r['completed']}", ""),
        ("turns measured (timed out)", lambda r: f"{r['turns']} ({r['missed_turns']})", ""),
        ("turns per second", lambda r: fmt(r["turns_per_s"], 1), ""),
        ("first text p50 / p90 / p99 ms", lat("first_text"), "first_text"),
        ("text done p50 / p90 / p99 ms", lat("text_done"), "text_done"),
        ("relay CPU % of a core", lambda r: fmt(r["relay_cpu_pct"], 0), ""),
        ("generator CPU % of a core", lambda r: fmt(r["generator_cpu_pct"], 0), ""),
        ("machine CPU % busy (not ours)", busy, ""),
        ("errors from the server", lambda r: json.dumps(r["errors"]) if r["errors"] else "0", ""),
    ]
    print(
        f"{'':34} {'relay' + mark(relay):>26} {'direct' + mark(direct):>26} "
        f"{'relay/direct p50 / p99':>24}"
    )
    for name, get, key in rows:
        ratios = ""
        if key and relay and direct:
            ratios = (
                f"{ratio(relay[f'{key}_p50_ms'], direct[f'{key}_p50_ms'])} / "
                f"{ratio(relay[f'{key}_p99_ms'], direct[f'{key}_p99_ms'])}"
            )
        print(f"{name:34} {col(relay, get):>26} {col(direct, get):>26} {ratios:>24}")


def other_cpu(relay: dict[str, Any], direct: dict[str, Any] | None) -> str:
    """Other programs' CPU during the relay phase (and the direct one), each marked if disturbed."""
    text = f"{relay['other_cpu_pct']:.0f}{mark(relay)}"
    if direct:
        text += f" ({direct['other_cpu_pct']:.0f}{mark(direct)})"
    return text


def sweep_table(rows: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> str:
    """One row per relay phase, beside the direct phase of the same sessions: latency as ms
    added over direct (the figure a user hears), the first audio itself for scale."""
    head = (
        "| workers | sessions | kept real time (direct) | relay CPU ms/session-s | "
        "relay CPU % core | speech_started added p50 / p99 ms | first audio added p50 / p99 ms | "
        "first audio p50 / p99 ms relay (direct) | RSS KB/session | fake CPU % relay / direct | "
        "gen late max ms | other CPU % relay (direct) |"
    )
    lines = [head, "|" + "---|" * 12]
    for relay, direct in rows:
        d = direct or {}
        added = added_over_direct(relay, direct)
        kept = f"{relay['kept']}/{relay['requested_sessions']}"
        if direct:
            kept += f" ({direct['kept']})"
        audio = pair(relay["first_audio_p50_ms"], relay["first_audio_p99_ms"])
        if direct:
            audio += f" ({pair(d['first_audio_p50_ms'], d['first_audio_p99_ms'])})"
        lines.append(
            f"| {relay['workers']}{mark(relay, direct)} | {relay['requested_sessions']} | {kept} | "
            f"{fmt(relay['relay_cpu_ms_per_session_s'], 2)} | {fmt(relay['relay_cpu_pct'], 0)} | "
            f"{added_pair(added, 'speech_started')} | {added_pair(added, 'first_audio')} | "
            f"{audio} | {fmt(relay['rss_per_session_kb'], 0)} | "
            f"{fmt(relay['upstream_cpu_pct'], 0)} / {fmt(d.get('upstream_cpu_pct'), 0)} | "
            f"{fmt(relay['max_sent_late_ms'], 0)} | {other_cpu(relay, direct)} |"
        )
    return "\n".join(lines)


def text_table(rows: list[tuple[str, dict[str, Any], dict[str, Any] | None]]) -> str:
    head = (
        "| text, 1 session | relay first text p50 / p99 ms "
        "| relay text_done p50 / p90 / p99 ms | direct text_done p50 / p90 / p99 ms "
        "| text_done ratio p50 / p99 | turns/s relay (direct) |"
    )
    lines = [head, "|" + "---|" * 6]
    for name, relay, direct in rows:
        d = direct or {}
        lines.append(
            f"| {name}{mark(relay, direct)} | "
            f"{pair(relay['first_text_p50_ms'], relay['first_text_p99_ms'], 2)} | "
            f"{fmt(relay['text_done_p50_ms'], 2)} / {fmt(relay['text_done_p90_ms'], 2)} / "
            f"{fmt(relay['text_done_p99_ms'], 2)} | "
            f"{fmt(d.get('text_done_p50_ms'), 2)} / {fmt(d.get('text_done_p90_ms'), 2)} / "
            f"{fmt(d.get('text_done_p99_ms'), 2)} | "
            f"{ratio(relay['text_done_p50_ms'], d.get('text_done_p50_ms'))} / "
            f"{ratio(relay['text_done_p99_ms'], d.get('text_done_p99_ms'))} | "
            f"{fmt(relay['turns_per_s'], 0)} ({fmt(d.get('turns_per_s'), 0)}) |"
        )
    return "\n".join(lines)


# What a forwarder adds, by mode (bench forwarder): the voice latencies, or the text turn.
FORWARDED_LATENCIES = ("speech_started", "first_audio", "text_done")


def forwarder_table(mode: str, rounds: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    """One row per round of ``bench forwarder``: the fake's CPU direct, the forwarder's own, and
    the latency the extra hop adds (``relay_cpu`` in a forwarded phase is the forwarder's)."""
    key = "text_done" if mode == "text" else "speech_started"
    lines = [
        f"| round | fake CPU ms/session-s direct | forwarder CPU ms/session-s | fake CPU "
        f"forwarded | {key} p50 / p99 ms direct | forwarded | added p50 / p99 ms | ratio p50 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, (direct, forwarded) in enumerate(rounds, 1):
        lines.append(
            f"| {n}{mark(direct, forwarded)} | {fmt(direct['upstream_cpu_ms_per_session_s'], 2)} | "
            f"{fmt(forwarded['relay_cpu_ms_per_session_s'], 2)} | "
            f"{fmt(forwarded['upstream_cpu_ms_per_session_s'], 2)} | "
            f"{pair(direct.get(f'{key}_p50_ms'), direct.get(f'{key}_p99_ms'), 2)} | "
            f"{pair(forwarded.get(f'{key}_p50_ms'), forwarded.get(f'{key}_p99_ms'), 2)} | "
            f"{added_pair(forwarded, key)} | "
            f"{ratio(forwarded.get(f'{key}_p50_ms'), direct.get(f'{key}_p50_ms'))} |"
        )
    return "\n".join(lines)
