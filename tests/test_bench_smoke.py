"""The benchmark runs end to end: tiny load, both modes, relay and direct, well-formed figures.

No timing assertions: this checks that ``python -m bench`` works (processes start, sessions
connect and complete, every figure is there), not how fast anything is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from numbers import Real
from pathlib import Path
from typing import Any

import websockets  # noqa: F401 - the load generator needs it: a missing install fails here

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = 2
# The benchmark's fake runs on the asyncio shell by default; the text run takes the Trio one
# (--fake-shell trio), so that both serve a whole benchmark run.
FAKE_SHELL = {"audio": "asyncio", "text": "trio"}


def bench_command(mode: str, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--mode",
        mode,
        "--sessions",
        str(SESSIONS),
        "--warmup",
        "1",
        "--duration",
        "2",
        "--grace",
        "1",
        "--json",
        str(out),
        "--fake-shell",
        FAKE_SHELL[mode],
        # The runs share the machine on purpose (and with whatever else runs): each one counts
        # the others as "other programs", which would fail it. What is checked here is that the
        # figures are there, not that they are undisturbed.
        "--allow-disturbed",
    ]


def is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def test_bench_runs_both_modes_against_relay_and_direct(tmp_path: Path) -> None:
    outputs = {mode: tmp_path / f"{mode}.json" for mode in ("audio", "text")}
    # Both modes at once: the check stays well under 30 s.
    runs = {
        mode: subprocess.Popen(
            bench_command(mode, out),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode, out in outputs.items()
    }
    printed = {}
    for mode, run in runs.items():
        stdout, stderr = run.communicate(timeout=60)
        assert run.returncode == 0, f"{mode}: exit {run.returncode}\n{stdout}\n{stderr}"
        assert "relay/direct" in stdout, stdout
        printed[mode] = stdout

    for mode, out in outputs.items():
        report = json.loads(out.read_text())
        assert report["machine"]["nproc"] >= 1
        phases = {phase["target"]: phase for phase in report["phases"]}
        assert set(phases) == {"relay", "direct"}, printed[mode]
        for target, phase in phases.items():
            where = f"{mode}/{target}: {phase}"
            assert phase["mode"] == mode
            assert phase["connected"] == SESSIONS, where
            assert phase["completed"] == SESSIONS, where
            assert phase["failure_count"] == 0, where
            assert phase["turns"] > 0, where
            assert phase["missed_turns"] < phase["turns"], where
            assert is_number(phase["upstream_cpu_ms_per_session_s"]), where
            assert is_number(phase["generator_cpu_pct"]), where
            if mode == "audio":
                assert phase["frames"] > 0, where
                for key in ("speech_started_p50_ms", "first_audio_p50_ms", "first_audio_p99_ms"):
                    assert is_number(phase[key]), f"{key}: {where}"
            else:
                for key in ("first_text_p50_ms", "text_done_p50_ms", "text_done_p99_ms"):
                    assert is_number(phase[key]), f"{key}: {where}"
        relay = phases["relay"]
        for key in ("relay_cpu_ms_per_session_s", "relay_cpu_pct", "rss_per_session_kb"):
            assert is_number(relay[key]), f"{mode}: {key}: {relay}"
