"""``python -m bench``: run one benchmark (relay and direct), or the sweep; see bench/README.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .loadgen import TURN_BYTES
from .orchestrate import log, run_phase
from .procs import (
    FAKE_SHELL,
    Child,
    TlsFiles,
    child_env,
    machine_busy_seconds,
    python_module,
    start_fake,
    start_relay,
    tls_files,
)
from .profile import summarise as summarise_profile

DIRECT_PATH = "/v1/realtime?model=gpt-realtime"


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


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "-"
    return f"{a / b:.2f}x"


def pair(a: float | None, b: float | None, digits: int = 1) -> str:
    return f"{fmt(a, digits)} / {fmt(b, digits)}"


DISTURBED_PCT = 15.0  # other programs' CPU (% of a core) above which a run is disturbed


def wait_until_quiet(limit_s: float, threshold_pct: float = DISTURBED_PCT) -> None:
    """Wait (at most ``limit_s``) until the machine's CPU is nearly idle: other programs'
    work would be counted against nobody, but would slow everything measured."""
    deadline = time.monotonic() + limit_s
    while True:
        before = machine_busy_seconds()
        time.sleep(1.0)
        busy_pct = (machine_busy_seconds() - before) * 100
        if busy_pct < threshold_pct:
            return
        if time.monotonic() > deadline:
            log(f"[bench] the machine is still busy ({busy_pct:.0f}% of a core): going on")
            return
        log(f"[bench] the machine is busy ({busy_pct:.0f}% of a core): waiting")
        time.sleep(4.0)


def busy(r: dict[str, Any]) -> str:
    return f"{r['machine_cpu_pct']:.0f} ({r['other_cpu_pct']:.0f})"


# --- one run ----------------------------------------------------------------------------------


class Servers:
    """The fake upstream and the relay: started here, or given by URL (and optionally pid)."""

    def __init__(self, args: argparse.Namespace, log_dir: Path) -> None:
        self.args = args
        self.log_dir = log_dir
        self.fake: Child | None = None
        self.relay: Child | None = None
        self.upstream_url: str = args.upstream_url or ""
        self.upstream_pid: int | None = args.upstream_pid
        self.upstream_port = urlsplit(self.upstream_url).port or 0 if self.upstream_url else 0
        self.tls: TlsFiles | None = None

    def start_fake(self) -> None:
        if self.upstream_url:
            return
        self.tls = tls_files(self.log_dir) if getattr(self.args, "tls", False) else None
        self.fake, self.upstream_port = start_fake(
            self.log_dir,
            TURN_BYTES,
            self.args.reply_audio_ms,
            tls=self.tls,
            shell=self.args.fake_shell,
        )
        scheme = "wss" if self.tls else "ws"
        self.upstream_url = f"{scheme}://127.0.0.1:{self.upstream_port}"
        self.upstream_pid = self.fake.pid

    @property
    def direct_url(self) -> str:
        return self.upstream_url.rstrip("/") + DIRECT_PATH

    @contextmanager
    def relay_running(self, workers: int) -> Iterator[tuple[str, int | None]]:
        """The relay's URL and pid (None when only a URL was given) for the block."""
        if self.args.relay_url:
            yield self.args.relay_url, self.args.relay_pid
            return
        if not self.upstream_port:
            raise SystemExit("--upstream-url needs a port (ws://HOST:PORT)")
        relay, url = start_relay(self.log_dir, self.upstream_port, workers, tls=self.tls)
        self.relay = relay
        try:
            time.sleep(0.5)  # let start-up settle before the idle RSS baseline
            yield url, relay.pid
        finally:
            relay.stop()
            self.relay = None

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        if self.fake is not None:
            self.fake.stop()


@contextmanager
def servers(args: argparse.Namespace) -> Iterator[Servers]:
    keep = args.log_dir is not None
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="trio-relay-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    running = Servers(args, log_dir)
    ok = False
    try:
        running.start_fake()
        yield running
        ok = True
    finally:
        running.stop()
        if ok and not keep:
            shutil.rmtree(log_dir, ignore_errors=True)
        elif not ok:
            log(f"logs kept in {log_dir}")


def phase(
    args: argparse.Namespace,
    running: Servers,
    *,
    target: str,
    mode: str,
    sessions: int,
    workers: int | None = None,
    text_interval_s: float = 0.0,
    profile_path: Path | None = None,
) -> dict[str, Any]:
    """One measured phase; against the relay, a fresh relay with ``workers`` workers.

    A phase disturbed by other programs (``--retries``) is run again, each time after waiting
    for a quiet machine (``--wait-quiet``); the least disturbed run is kept.
    """
    what = f"{target} {mode} x{sessions}" + (f" workers={workers}" if workers else "")
    best: dict[str, Any] | None = None
    for attempt in range(1 + args.retries):
        if args.wait_quiet:
            wait_until_quiet(args.wait_quiet)
        log(f"[bench] {what}: {args.warmup:g} s warm-up + {args.duration:g} s measured ...")
        with ExitStack() as stack:
            if target == "relay":
                url, relay_pid = stack.enter_context(running.relay_running(workers or 1))
            else:
                url, relay_pid = running.direct_url, None
            result = run_phase(
                target=target,
                url=url,
                mode=mode,
                sessions=sessions,
                warmup_s=args.warmup,
                duration_s=args.duration,
                log_dir=running.log_dir,
                relay_pid=relay_pid,
                upstream_pid=running.upstream_pid,
                shards=args.shards,
                per_shard=args.per_shard,
                text_interval_s=text_interval_s,
                frame_ms=(
                    args.direct_append_ms
                    if target == "direct" and args.direct_append_ms
                    else args.frame_ms
                ),
                label=f"{target}-{mode}-{sessions}",
                profile_path=profile_path,
                grace_s=args.grace,
            )
        result["workers"] = workers
        result["attempt"] = attempt + 1
        if result["failure_count"]:
            log(
                f"[bench]   {result['failure_count']} session failures, "
                f"e.g. {result['failures'][:2]}"
            )
        if best is None or result["other_cpu_pct"] < best["other_cpu_pct"]:
            best = result
        if result["other_cpu_pct"] <= DISTURBED_PCT:
            break
        log(
            f"[bench]   warning: other processes used {result['other_cpu_pct']:.0f}% of a core "
            "during the window: the figures are disturbed"
        )
    assert best is not None
    return best


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
    print(f"{'':44} {'relay':>22} {'direct':>22} {'relay/direct':>16}")
    for name, get, ratio_key in rows:
        ratios = ""
        if ratio_key and relay and direct:
            ratios = (
                f"{ratio(relay[f'{ratio_key}_p50_ms'], direct[f'{ratio_key}_p50_ms'])} / "
                f"{ratio(relay[f'{ratio_key}_p99_ms'], direct[f'{ratio_key}_p99_ms'])}"
            )
        print(f"{name:44} {col(relay, get):>22} {col(direct, get):>22} {ratios:>16}")


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
    print(f"{'':34} {'relay':>26} {'direct':>26} {'relay/direct p50 / p99':>24}")
    for name, get, key in rows:
        ratios = ""
        if key and relay and direct:
            ratios = (
                f"{ratio(relay[f'{key}_p50_ms'], direct[f'{key}_p50_ms'])} / "
                f"{ratio(relay[f'{key}_p99_ms'], direct[f'{key}_p99_ms'])}"
            )
        print(f"{name:34} {col(relay, get):>26} {col(direct, get):>26} {ratios:>24}")


def cmd_run(args: argparse.Namespace) -> int:
    if args.tls and not args.no_direct:
        raise SystemExit("--tls measures the relay's wss:// hop: add --no-direct")
    report: dict[str, Any] = {"machine": machine(), "argv": sys.argv[1:], "phases": []}
    with servers(args) as running:
        relay_result = direct_result = None
        if not args.no_relay:
            relay_result = phase(
                args,
                running,
                target="relay",
                mode=args.mode,
                sessions=args.sessions,
                workers=args.workers,
                text_interval_s=args.text_interval,
                profile_path=Path(args.profile).resolve() if args.profile else None,
            )
            report["phases"].append(relay_result)
        if not args.no_direct:
            direct_result = phase(
                args,
                running,
                target="direct",
                mode=args.mode,
                sessions=args.sessions,
                text_interval_s=args.text_interval,
            )
            report["phases"].append(direct_result)
    pacing = ""
    if args.mode == "text":
        every = f", a turn every {args.text_interval:g} s"
        pacing = every if args.text_interval else ", closed loop"
    print(
        f"\n{args.mode}: {args.sessions} sessions{pacing}; relay --workers {args.workers}; "
        f"{args.duration:g} s measured after {args.warmup:g} s warm-up"
    )
    (print_audio if args.mode == "audio" else print_text)(relay_result, direct_result)
    if args.profile and Path(args.profile).suffix != ".svg" and Path(args.profile).exists():
        print(f"\nrelay profile (py-spy, measured window; raw stacks in {args.profile}):")
        print(summarise_profile(Path(args.profile).read_text()))
    write_json(args, report)
    return 0


def write_json(args: argparse.Namespace, report: dict[str, Any]) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        log(f"[bench] results written to {args.json}")


# --- the sweep --------------------------------------------------------------------------------


def sweep_table(rows: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> str:
    head = (
        "| workers | sessions | kept real time (direct) | relay CPU ms/session-s | "
        "relay CPU % core | first audio p50 / p99 ms | direct p50 / p99 ms | "
        "ratio p50 / p99 | RSS KB/session | fake CPU % relay / direct | gen late max ms | "
        "other CPU % |"
    )
    lines = [head, "|" + "---|" * 12]
    for relay, direct in rows:
        d = direct or {}
        kept = f"{relay['kept']}/{relay['requested_sessions']}"
        if direct:
            kept += f" ({direct['kept']})"
        lines.append(
            f"| {relay['workers']} | {relay['requested_sessions']} | {kept} | "
            f"{fmt(relay['relay_cpu_ms_per_session_s'], 2)} | {fmt(relay['relay_cpu_pct'], 0)} | "
            f"{pair(relay['first_audio_p50_ms'], relay['first_audio_p99_ms'])} | "
            f"{pair(d.get('first_audio_p50_ms'), d.get('first_audio_p99_ms'))} | "
            f"{ratio(relay['first_audio_p50_ms'], d.get('first_audio_p50_ms'))} / "
            f"{ratio(relay['first_audio_p99_ms'], d.get('first_audio_p99_ms'))} | "
            f"{fmt(relay['rss_per_session_kb'], 0)} | "
            f"{fmt(relay['upstream_cpu_pct'], 0)} / {fmt(d.get('upstream_cpu_pct'), 0)} | "
            f"{fmt(relay['max_sent_late_ms'], 0)} | {fmt(relay['other_cpu_pct'], 0)} |"
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
            f"| {name} | {pair(relay['first_text_p50_ms'], relay['first_text_p99_ms'], 2)} | "
            f"{fmt(relay['text_done_p50_ms'], 2)} / {fmt(relay['text_done_p90_ms'], 2)} / "
            f"{fmt(relay['text_done_p99_ms'], 2)} | "
            f"{fmt(d.get('text_done_p50_ms'), 2)} / {fmt(d.get('text_done_p90_ms'), 2)} / "
            f"{fmt(d.get('text_done_p99_ms'), 2)} | "
            f"{ratio(relay['text_done_p50_ms'], d.get('text_done_p50_ms'))} / "
            f"{ratio(relay['text_done_p99_ms'], d.get('text_done_p99_ms'))} | "
            f"{fmt(relay['turns_per_s'], 0)} ({fmt(d.get('turns_per_s'), 0)}) |"
        )
    return "\n".join(lines)


def cmd_sweep(args: argparse.Namespace) -> int:
    sizes = [int(s) for s in args.sessions.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    report: dict[str, Any] = {"machine": machine(), "argv": sys.argv[1:], "phases": []}
    started = time.monotonic()
    rows: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    text_rows: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    with servers(args) as running:
        for n in sizes:
            direct = None
            if not args.no_direct:
                direct = phase(args, running, target="direct", mode="audio", sessions=n)
                report["phases"].append(direct)
            for w in worker_counts:
                relay = phase(args, running, target="relay", mode="audio", sessions=n, workers=w)
                report["phases"].append(relay)
                rows.append((relay, direct))
        if not args.no_text:
            for name, interval in (
                (f"paced, a turn every {args.text_interval:g} s", args.text_interval),
                ("closed loop", 0.0),
            ):
                relay = phase(
                    args,
                    running,
                    target="relay",
                    mode="text",
                    sessions=1,
                    workers=1,
                    text_interval_s=interval,
                )
                direct = None
                if not args.no_direct:
                    direct = phase(
                        args,
                        running,
                        target="direct",
                        mode="text",
                        sessions=1,
                        text_interval_s=interval,
                    )
                report["phases"] += [relay] + ([direct] if direct else [])
                text_rows.append((name, relay, direct))
    info = report["machine"]
    print(
        f"\ntrio-relay benchmark sweep: audio sessions, {args.duration:g} s measured after "
        f"{args.warmup:g} s warm-up; {info['nproc']} cores, {info['cpu']}, Python "
        f"{info['python']}; took {time.monotonic() - started:.0f} s\n"
    )
    print(sweep_table(rows))
    if text_rows:
        print()
        print(text_table(text_rows))
    write_json(args, report)
    return 0


# --- the WebSocket floor -----------------------------------------------------------------------


def cmd_floor(args: argparse.Namespace) -> int:
    """What receiving the audio frames alone costs on each WebSocket stack (bench/ws_floor.py)."""
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="trio-relay-floor-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for stack in args.stacks.split(","):
        if args.wait_quiet:
            wait_until_quiet(args.wait_quiet)
        server = Child(
            f"ws-floor-{stack}",
            python_module("bench.ws_floor", "--stack", stack),
            log_dir,
            env=child_env(),
        )
        try:
            url = server.wait_for_line(r"ws://\S+", 30).group(0)
            log(f"[bench] floor {stack} x{args.sessions}: {args.duration:g} s measured ...")
            result = run_phase(
                target="relay",
                url=url,
                mode="audio",
                sessions=args.sessions,
                warmup_s=args.warmup,
                duration_s=args.duration,
                log_dir=log_dir,
                relay_pid=server.pid,
                frame_ms=args.frame_ms,
                grace_s=0.5,
                label=f"floor-{stack}",
            )
        finally:
            server.stop()
        rows.append((stack, result))
    print(
        f"\nreceive-only WebSocket servers on Trio, {args.sessions} sessions of "
        f"{args.frame_ms} ms frames, {args.duration:g} s measured"
    )
    print("| stack | server CPU ms/session-s | server CPU % core | other CPU % |")
    print("|---|---|---|---|")
    for stack, r in rows:
        print(
            f"| {stack} | {fmt(r['relay_cpu_ms_per_session_s'], 2)} | "
            f"{fmt(r['relay_cpu_pct'], 0)} | {fmt(r['other_cpu_pct'], 0)} |"
        )
    if not args.log_dir:
        shutil.rmtree(log_dir, ignore_errors=True)
    return 0


# --- argv -------------------------------------------------------------------------------------


def common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds (15)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (5)")
    parser.add_argument(
        "--grace", type=float, default=2.0, help="seconds after the window for late answers (2)"
    )
    parser.add_argument("--no-direct", action="store_true", help="skip the direct (no-relay) runs")
    parser.add_argument(
        "--tls",
        action="store_true",
        help="the relay-to-fake hop over wss:// (a test CA made with trustme; needs --no-direct)",
    )
    parser.add_argument(
        "--shards", type=int, help="generator processes (default: one per --per-shard sessions)"
    )
    parser.add_argument("--per-shard", type=int, default=200, help="sessions per generator (200)")
    parser.add_argument(
        "--text-interval",
        type=float,
        default=0.1,
        help="text mode: seconds between a session's turns; 0 = closed loop (0.1)",
    )
    parser.add_argument(
        "--frame-ms",
        type=int,
        default=20,
        choices=(10, 20, 40, 50, 100),
        help="audio frame length (20: the workload; others to see per-frame costs)",
    )
    parser.add_argument(
        "--direct-append-ms",
        type=int,
        choices=(10, 20, 40, 50, 100),
        help="direct client: one input_audio_buffer.append per this many ms of audio (default: "
        "every frame; 100: what the relay sends upstream, so the fake does the same work)",
    )
    parser.add_argument("--reply-audio-ms", type=int, default=1000, help="fake's reply (1000)")
    parser.add_argument(
        "--fake-shell",
        choices=("asyncio", "trio"),
        default=FAKE_SHELL,
        help=f"the fake upstream's server ({FAKE_SHELL}; trio: the one tests use, to compare)",
    )
    parser.add_argument("--upstream-url", help="use this running fake upstream (ws://HOST:PORT)")
    parser.add_argument("--upstream-pid", type=int, help="its pid, to measure its CPU")
    parser.add_argument("--relay-url", help="use this running relay (ws://HOST:PORT/realtime)")
    parser.add_argument("--relay-pid", type=int, help="its pid, to measure its CPU and RSS")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each phase, wait up to this long for other programs to leave the CPU idle",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=0,
        help="run a phase disturbed by other programs again, up to this many times (0)",
    )
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument("--log-dir", help="keep the servers' and generators' logs here")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark trio-relay against the bundled fake upstream, beside a direct "
        "(no-relay) client of the same fake.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{run,sweep,floor}")
    run = commands.add_parser("run", help="one load level: relay, then direct, side by side")
    run.add_argument("--mode", choices=("audio", "text"), default="audio")
    run.add_argument("--sessions", type=int, default=100)
    run.add_argument("--workers", type=int, default=1, help="relay worker processes (1)")
    run.add_argument("--no-relay", action="store_true", help="only the direct run")
    run.add_argument(
        "--profile",
        help="py-spy the relay through the measured window: FILE.svg (flame graph) or any "
        "other name (raw stacks, summarised here)",
    )
    common(run)
    sweep = commands.add_parser("sweep", help="sessions x workers, one table (+ text at 1)")
    sweep.add_argument("--sessions", default="10,50,100,200,400", help="(10,50,100,200,400)")
    sweep.add_argument("--workers", default="1,2", help="relay worker counts (1,2)")
    sweep.add_argument("--no-text", action="store_true", help="skip the 1-session text runs")
    common(sweep)
    floor = commands.add_parser(
        "floor", help="what receiving the frames alone costs per WebSocket stack (no relay)"
    )
    floor.add_argument("--sessions", type=int, default=100)
    floor.add_argument("--stacks", default="trio-websocket,wsproto,websockets,raw")
    floor.add_argument("--duration", type=float, default=10.0)
    floor.add_argument("--warmup", type=float, default=2.0)
    floor.add_argument("--frame-ms", type=int, default=20, choices=(10, 20, 40, 50, 100))
    floor.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS")
    floor.add_argument("--log-dir")
    shard = commands.add_parser("shard")  # internal: one generator process
    shard.add_argument("spec")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "shard":
        from .loadgen import main as shard_main

        return shard_main(args.spec)
    if getattr(args, "relay_url", None) and args.relay_pid is None:
        log("[bench] --relay-url without --relay-pid: no relay CPU or RSS figures")
    if args.command == "floor":
        return cmd_floor(args)
    if args.command == "run":
        return cmd_run(args)
    return cmd_sweep(args)


if __name__ == "__main__":
    sys.exit(main())
