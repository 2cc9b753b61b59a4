"""``python -m bench``: run one benchmark (relay and direct), or the sweep; see bench/README.md."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import compare as compare_command
from . import disturbance
from .disturbance import print_footnote, verdict, wait_until_quiet
from .figures import added_over_direct, fmt
from .launch import FAKE_SHELL
from .orchestrate import log, run_phase
from .phases import phase, servers
from .procs import Child, child_env, python_module
from .profile import summarise as summarise_profile
from .reports import (
    FORWARDED_LATENCIES,
    forwarder_table,
    machine,
    print_audio,
    print_text,
    sweep_table,
    text_table,
    write_json,
)


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
    if relay_result is not None and args.mode == "audio":
        relay_result.update(added_over_direct(relay_result, direct_result))
    pacing = ""
    if args.mode == "text":
        every = f", a turn every {args.text_interval:g} s"
        pacing = every if args.text_interval else ", closed loop"
    print(
        f"\n{args.mode}: {args.sessions} sessions{pacing}; relay --workers {args.workers}; "
        f"{args.duration:g} s measured after {args.warmup:g} s warm-up"
    )
    (print_audio if args.mode == "audio" else print_text)(relay_result, direct_result)
    print_footnote(report["phases"], args.disturbed_pct)
    if args.profile and Path(args.profile).suffix != ".svg" and Path(args.profile).exists():
        print(f"\nrelay profile (py-spy, measured window; raw stacks in {args.profile}):")
        print(summarise_profile(Path(args.profile).read_text()))
    report.update(disturbance.summary(args, report["phases"]))
    write_json(args, report)
    return verdict(args, report["phases"])


# --- the sweep --------------------------------------------------------------------------------


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
                relay.update(added_over_direct(relay, direct))
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
    print_footnote(report["phases"], args.disturbed_pct)
    report.update(disturbance.summary(args, report["phases"]))
    write_json(args, report)
    return verdict(args, report["phases"])


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


# --- the forwarding floor ----------------------------------------------------------------------


def cmd_forwarder(args: argparse.Namespace) -> int:
    """The direct clients straight to the fake, then through bench/forwarder.py, alternately."""
    if args.tls:
        raise SystemExit("the forwarder passes plain ws:// only: drop --tls")
    report: dict[str, Any] = {"machine": machine(), "argv": sys.argv[1:], "phases": []}
    rounds: list[tuple[dict[str, Any], dict[str, Any]]] = []
    common = dict(mode=args.mode, sessions=args.sessions, text_interval_s=args.text_interval)
    with servers(args) as running:
        for n in range(1, args.rounds + 1):
            direct = phase(args, running, target="direct", name=f"round {n}", **common)
            with running.forwarder_running(f"round-{n}") as through:
                forwarded = phase(
                    args,
                    running,
                    target="direct",
                    name=f"forwarded round {n}",
                    through=through,
                    **common,
                )
            forwarded.update(added_over_direct(forwarded, direct, FORWARDED_LATENCIES))
            report["phases"] += [direct, forwarded]
            rounds.append((direct, forwarded))
    pacing = ""
    if args.mode == "text":
        pacing = f", a turn every {args.text_interval:g} s" if args.text_interval else ", closed"
    print(
        f"\n{args.mode}: {args.sessions} sessions{pacing}, direct and through a do-nothing "
        f"forwarder (bench/forwarder.py), {args.duration:g} s measured per phase"
    )
    print(forwarder_table(args.mode, rounds))
    print_footnote(report["phases"], args.disturbed_pct)
    report.update(disturbance.summary(args, report["phases"]))
    write_json(args, report)
    return verdict(args, report["phases"])


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
    disturbance.add_arguments(parser)
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument("--log-dir", help="keep the servers' and generators' logs here")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark trio-relay against the bundled fake upstream, beside a direct "
        "(no-relay) client of the same fake.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{run,sweep,compare,forwarder,floor}"
    )
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
    compare = commands.add_parser(
        "compare", help="two relays (settings, commits) alternately in one run; paired figures"
    )
    compare_command.add_arguments(compare)
    common(compare)
    forwarder = commands.add_parser(
        "forwarder",
        help="the direct clients through a do-nothing forwarder: the floor of one more hop",
    )
    common(forwarder)
    forwarder.add_argument("--mode", choices=("audio", "text"), default="audio")
    forwarder.add_argument("--sessions", type=int, default=100)
    forwarder.add_argument("--rounds", type=int, default=2, help="rounds of direct, forwarded")
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
    if args.command == "forwarder":
        return cmd_forwarder(args)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "compare":
        return compare_command.cmd_compare(args)
    return cmd_sweep(args)


if __name__ == "__main__":
    sys.exit(main())
