"""The benchmark runs end to end: tiny load, both modes, relay and direct, a compare of two
relays, the direct clients through a do-nothing forwarder, well-formed figures, and a disturbed
run that fails after printing what it measured.

No timing assertions: this checks that ``python -m bench`` works (processes start, sessions
connect and complete, every figure is there), not how fast anything is. Every run starts at
once, so the whole module takes about as long as its longest run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from numbers import Real
from pathlib import Path
from typing import Any

import attrs
import pytest
import websockets  # noqa: F401 - the load generator needs it: a missing install fails here

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = 2
EXIT_DISTURBED = 3  # bench/disturbance.py: a run with a disturbed phase
# The benchmark's fake runs on the asyncio shell by default; the text run takes the Trio one
# (--fake-shell trio), so that both serve a whole benchmark run.
FAKE_SHELL = {"audio": "asyncio", "text": "trio"}
# A threshold no phase stays under: every phase counts as disturbed by other programs.
EVERY_PHASE_DISTURBED = ["--disturbed-pct", "-1000"]
ADDED = (
    "speech_started_added_p50_ms",
    "speech_started_added_p99_ms",
    "first_audio_added_p50_ms",
    "first_audio_added_p99_ms",
)


def run_command(mode: str, out: Path, *extra: str) -> list[str]:
    return [
        *("-m", "bench", "run", "--mode", mode, "--sessions", str(SESSIONS)),
        *("--warmup", "1", "--duration", "2", "--grace", "1", "--json", str(out)),
        *("--fake-shell", FAKE_SHELL[mode]),
        *extra,
    ]


def compare_command(out: Path) -> list[str]:
    """The tiniest compare: one round of two relays differing by a setting, after one direct
    phase, each just long enough for every session to complete a turn in the window: a first
    turn ends 0.98 s after its session starts, and 2 sessions start 0.5 s apart, so at 0.98 and
    1.48 s, inside the window from 0.5 to 1.5 s."""
    return [
        *("-m", "bench", "compare", "--sessions", str(SESSIONS), "--rounds", "1"),
        *("--warmup", "0.5", "--duration", "1", "--grace", "0.5", "--json", str(out)),
        *("--a-env", "AUDIO_CHUNK_MS=100", "--b-env", "AUDIO_CHUNK_MS=0"),
        *EVERY_PHASE_DISTURBED,
    ]


def forwarder_command(out: Path) -> list[str]:
    """One round of the direct clients straight to the fake, then through the forwarder."""
    return [
        *("-m", "bench", "forwarder", "--sessions", str(SESSIONS), "--rounds", "1"),
        *("--warmup", "0.5", "--duration", "1", "--grace", "0.5", "--json", str(out)),
        "--allow-disturbed",
    ]


@attrs.frozen
class Finished:
    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any]

    def why(self) -> str:
        return f"exit {self.returncode}\n{self.stdout}\n{self.stderr}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Finished]]:
    out = tmp_path_factory.mktemp("bench")
    commands = {
        # The runs share the machine on purpose (and with whatever else runs): each counts the
        # others as "other programs", so they accept disturbance; the audio run has every phase
        # disturbed, to see the rows marked.
        "audio": run_command(
            "audio", out / "audio.json", "--allow-disturbed", *EVERY_PHASE_DISTURBED
        ),
        "text": run_command("text", out / "text.json", "--allow-disturbed"),
        "compare": compare_command(out / "compare.json"),
        "forwarder": forwarder_command(out / "forwarder.json"),
    }
    started = {
        name: subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, argv in commands.items()
    }
    finished = {}
    try:
        for name, proc in started.items():
            stdout, stderr = proc.communicate(timeout=90)
            report_file = out / f"{name}.json"
            report = json.loads(report_file.read_text()) if report_file.exists() else {}
            finished[name] = Finished(proc.returncode, stdout, stderr, report)
    finally:
        for proc in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    yield finished


def is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def test_bench_runs_both_modes_against_relay_and_direct(runs: dict[str, Finished]) -> None:
    for mode in ("audio", "text"):
        run = runs[mode]
        assert run.returncode == 0, f"{mode}: {run.why()}"
        assert "relay/direct" in run.stdout, run.stdout
        assert run.report["machine"]["nproc"] >= 1
        phases = {phase["target"]: phase for phase in run.report["phases"]}
        assert set(phases) == {"relay", "direct"}, run.stdout
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


def test_audio_run_reports_latency_added_over_direct(runs: dict[str, Finished]) -> None:
    run = runs["audio"]
    assert "relay - direct ms" in run.stdout, run.stdout
    relay = next(p for p in run.report["phases"] if p["target"] == "relay")
    for key in ADDED:
        assert is_number(relay[key]), f"{key}: {relay}"


def test_accepted_disturbance_exits_zero_with_the_disturbed_columns_marked(
    runs: dict[str, Finished],
) -> None:
    run = runs["audio"]
    assert run.returncode == 0, run.why()
    assert "relay*" in run.stdout and "direct*" in run.stdout, run.stdout
    assert "* disturbed" in run.stdout, run.stdout
    assert "Accepted with --allow-disturbed" in run.stderr, run.stderr
    assert run.report["disturbed_phases"] == ["relay audio x2 workers=1", "direct audio x2"]
    assert all(phase["disturbed"] for phase in run.report["phases"])


def test_compare_prints_each_phase_and_the_paired_differences(runs: dict[str, Finished]) -> None:
    run = runs["compare"]
    assert "A: AUDIO_CHUNK_MS=100" in run.stdout and "B: AUDIO_CHUNK_MS=0" in run.stdout
    assert "| B - A by round |" in run.stdout, run.stdout
    assert "| 1 | A* |" in run.stdout and "| 1 | B* |" in run.stdout, run.stdout
    report = run.report
    assert report["a"] == {"env": {"AUDIO_CHUNK_MS": "100"}, "root": None}
    assert report["b"] == {"env": {"AUDIO_CHUNK_MS": "0"}, "root": None}
    assert [(p["target"], p["relay"], p["round"]) for p in report["phases"]] == [
        ("direct", None, None),
        ("relay", "A", 1),
        ("relay", "B", 1),
    ]
    for phase in report["phases"]:
        assert phase["completed"] == SESSIONS, phase
    for key in ("relay_cpu_ms_per_session_s", "first_audio_p50_ms", "kept", *ADDED):
        paired = report["paired"][key]
        assert len(paired["a"]) == len(paired["b"]) == len(paired["b_minus_a"]) == 1, key
        assert is_number(paired["a_median"]) and is_number(paired["b_median"]), (key, paired)
        assert is_number(paired["b_minus_a_median"]), (key, paired)


def test_a_disturbed_run_fails_after_printing_and_writing_its_figures(
    runs: dict[str, Finished],
) -> None:
    run = runs["compare"]
    assert run.returncode == EXIT_DISTURBED, run.why()
    assert "FAILED: 3 phases disturbed" in run.stderr, run.stderr
    assert "relay A round 1 audio x2 workers=1 (other CPU" in run.stderr, run.stderr
    assert "paired by round" in run.stdout, run.stdout
    assert len(run.report["disturbed_phases"]) == 3, run.report


def test_forwarder_measures_the_extra_hop_against_the_direct_run(runs: dict[str, Finished]) -> None:
    run = runs["forwarder"]
    assert run.returncode == 0, run.why()
    assert "| forwarder CPU ms/session-s |" in run.stdout, run.stdout
    direct, forwarded = run.report["phases"]
    assert (direct["target"], forwarded["target"]) == ("direct", "direct")
    for phase in (direct, forwarded):
        assert phase["completed"] == SESSIONS, phase
    # The forwarder's CPU is measured as the relay's would be; the fake's, in both phases.
    assert is_number(forwarded["relay_cpu_ms_per_session_s"]), forwarded
    assert direct["relay_cpu_ms_per_session_s"] is None, direct
    assert is_number(forwarded["upstream_cpu_ms_per_session_s"]), forwarded
    assert is_number(forwarded["speech_started_added_p50_ms"]), forwarded
