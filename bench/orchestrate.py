"""Runs one phase (one target, one mode, N sessions) across generator shards and measures it.

A phase: start the shards (each connects its sessions), wait until all are connected, hand them a
common start time ``t0``, snapshot CPU of the relay, the fake upstream and the shards at the
window's start and end, sample the relay's RSS through the window, collect the shards' results
and fold them into one :class:`dict` of figures (see :func:`summarise`).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import profile
from .loadgen import ShardSpec, percentile
from .procs import (
    Child,
    child_env,
    cpu_seconds,
    descendants,
    machine_busy_seconds,
    python_module,
    rss_kb,
)

RSS_SAMPLE_S = 0.2


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def shard_count(sessions: int, requested: int | None, per_shard: int) -> int:
    if requested:
        return max(1, min(requested, sessions))
    return max(1, math.ceil(sessions / per_shard))


def run_phase(
    *,
    target: str,
    url: str,
    mode: str,
    sessions: int,
    warmup_s: float,
    duration_s: float,
    log_dir: Path,
    relay_pid: int | None = None,
    upstream_pid: int | None = None,
    shards: int | None = None,
    per_shard: int = 200,
    text_interval_s: float = 0.0,
    frame_ms: int = 20,
    grace_s: float = 2.0,
    label: str = "",
    profile_path: Path | None = None,
) -> dict[str, Any]:
    count = shard_count(sessions, shards, per_shard)
    connect_timeout = 30.0 + sessions * 0.05
    sizes = [sessions // count + (1 if i < sessions % count else 0) for i in range(count)]
    baseline_rss = rss_kb(descendants(relay_pid)) if relay_pid else None
    children: list[Child] = []
    first = 0
    for i, size in enumerate(sizes):
        spec = ShardSpec(
            target=target,
            url=url,
            mode=mode,
            sessions=size,
            first_index=first,
            total_sessions=sessions,
            warmup_s=warmup_s,
            duration_s=duration_s,
            grace_s=grace_s,
            text_interval_s=text_interval_s,
            frame_ms=frame_ms,
            connect_timeout_s=connect_timeout,
        )
        first += size
        children.append(
            Child(
                f"shard-{label or target}-{i}",
                python_module("bench", "shard", json.dumps(asdict(spec))),
                log_dir,
                env=child_env(),
                stdin=True,
            )
        )
    try:
        ready = [
            json.loads(c.wait_for_line(r'^\{"event": "ready".*', connect_timeout + 30).group(0))
            for c in children
        ]
        connected = sum(r["connected"] for r in ready)
        connect_s = max(r["connect_s"] for r in ready)
        t0 = time.monotonic() + 0.3
        for c in children:
            c.send_line(repr(t0))
        window_start, window_end = t0 + warmup_s, t0 + warmup_s + duration_s

        def pids() -> dict[str, list[int]]:
            return {
                "relay": descendants(relay_pid) if relay_pid else [],
                "upstream": [upstream_pid] if upstream_pid else [],
                "generator": [c.pid for c in children],
            }

        time.sleep(max(0.0, window_start - time.monotonic()))
        cpu_start = {name: cpu_seconds(p) for name, p in pids().items()}
        cpu_start["machine"] = machine_busy_seconds()
        per_process_start = {p: cpu_seconds([p]) for p in pids()["relay"]}
        profiler = None
        if profile_path is not None and relay_pid:
            workers = len(descendants(relay_pid)) > 1
            profiler = profile.record(relay_pid, duration_s, profile_path, subprocesses=workers)
        peak_rss = 0
        while True:
            if relay_pid:
                peak_rss = max(peak_rss, rss_kb(descendants(relay_pid)))
            left = window_end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(RSS_SAMPLE_S, left))
        cpu_end = {name: cpu_seconds(p) for name, p in pids().items()}
        cpu_end["machine"] = machine_busy_seconds()
        per_process = {
            p: round((cpu_seconds([p]) - start) * 100 / duration_s, 1)
            for p, start in per_process_start.items()
        }
        if profiler is not None:
            _, errors = profiler.communicate(timeout=60)
            if profiler.returncode:
                log(f"[bench] py-spy failed: {errors.decode(errors='replace')[-500:]}")
        results = []
        for c in children:
            line = c.wait_for_line(r'^\{"event": "result".*', grace_s + 30).group(0)
            results.append(json.loads(line))
    finally:
        for c in children:
            c.stop(timeout_s=10)
    cpu = {name: cpu_end[name] - cpu_start[name] for name in cpu_start}
    summary = summarise(mode, results, duration_s)
    session_seconds = max(1, summary["sessions"]) * duration_s
    summary.update(
        target=target,
        mode=mode,
        requested_sessions=sessions,
        connected=connected,
        connect_s=connect_s,
        shards=count,
        duration_s=duration_s,
        warmup_s=warmup_s,
        text_interval_s=text_interval_s if mode == "text" else None,
        frame_ms=frame_ms if mode == "audio" else None,
        relay_cpu_s=cpu["relay"] if relay_pid else None,
        relay_cpu_ms_per_session_s=cpu["relay"] * 1000 / session_seconds if relay_pid else None,
        relay_cpu_pct=cpu["relay"] * 100 / duration_s if relay_pid else None,
        relay_cpu_pct_by_process=list(per_process.values()) if relay_pid else None,
        upstream_cpu_ms_per_session_s=(
            cpu["upstream"] * 1000 / session_seconds if upstream_pid else None
        ),
        upstream_cpu_pct=cpu["upstream"] * 100 / duration_s if upstream_pid else None,
        generator_cpu_pct=cpu["generator"] * 100 / duration_s,
        machine_cpu_pct=cpu["machine"] * 100 / duration_s,
        # Everything else on the machine (other programs, this orchestrator, the kernel's work
        # not charged to a process): high values mean the figures are not to be trusted.
        other_cpu_pct=(cpu["machine"] - cpu["relay"] - cpu["upstream"] - cpu["generator"])
        * 100
        / duration_s,
        rss_baseline_kb=baseline_rss,
        rss_peak_kb=peak_rss if relay_pid else None,
        rss_per_session_kb=(
            (peak_rss - baseline_rss) / max(1, summary["sessions"])
            if relay_pid and baseline_rss is not None
            else None
        ),
    )
    return summary


def summarise(mode: str, results: list[dict[str, Any]], duration_s: float) -> dict[str, Any]:
    sessions = [s for r in results for s in r["sessions"]]
    errors: Counter[str] = Counter()
    for s in sessions:
        errors.update(s["errors"])
    failures = [s["failure"] for s in sessions if s["failure"]]
    failures += [f for r in results for f in r["connect_failures"]]
    lag_max = [r["loop_lag_max_ms"] for r in results if r["loop_lag_max_ms"] is not None]
    lag_p99 = [r["loop_lag_p99_ms"] for r in results if r["loop_lag_p99_ms"] is not None]
    out: dict[str, Any] = {
        "sessions": len(sessions),
        "completed": sum(1 for s in sessions if s["ok"]),
        "turns": sum(s["turns"] for s in sessions),
        "missed_turns": sum(s["missed_turns"] for s in sessions),
        "errors": dict(errors),
        "failures": failures[:5],
        "failure_count": len(failures),
        "generator_loop_lag_p99_ms": max(lag_p99, default=None),
        "generator_loop_lag_max_ms": max(lag_max, default=None),
    }
    if mode == "audio":
        speech = [v for s in sessions for v in s["speech_started_ms"]]
        audio = [v for s in sessions for v in s["first_audio_ms"]]
        out.update(
            kept=sum(1 for s in sessions if s["kept"]),
            frames=sum(s["frames"] for s in sessions),
            late_frames=sum(s["late_frames"] for s in sessions),
            max_sent_late_ms=max((s["max_sent_late_ms"] for s in sessions), default=None),
            backpressured_frames=sum(s["backpressured_frames"] for s in sessions),
            speech_started_p50_ms=percentile(speech, 50),
            speech_started_p99_ms=percentile(speech, 99),
            first_audio_p50_ms=percentile(audio, 50),
            first_audio_p90_ms=percentile(audio, 90),
            first_audio_p99_ms=percentile(audio, 99),
            first_audio_max_ms=max(audio, default=None),
            audio_in_bytes_per_turn=(
                sum(s["audio_in_bytes"] for s in sessions) / max(1, len(audio))
            ),
        )
    else:
        first = [v for s in sessions for v in s["first_text_ms"]]
        done = [v for s in sessions for v in s["text_done_ms"]]
        out.update(
            turns_per_s=len(done) / duration_s,
            first_text_p50_ms=percentile(first, 50),
            first_text_p90_ms=percentile(first, 90),
            first_text_p99_ms=percentile(first, 99),
            text_done_p50_ms=percentile(done, 50),
            text_done_p90_ms=percentile(done, 90),
            text_done_p99_ms=percentile(done, 99),
            max_send_late_ms=max((s["max_send_late_ms"] for s in sessions), default=None),
        )
    return out
