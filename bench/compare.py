"""``bench compare``: two relays, A and B, run alternately in one run against one fake.

Each round runs A, then B, each on a fresh relay process, with the same sessions and mode; one
direct phase (first, or at the start of every round with ``--direct-each-round``) gives both
their latency added over direct. A and B differ by settings (``--a-env K=V``) and/or by code
(``--a-dir PATH``: a checkout of another commit, e.g. a ``git worktree``; the relay runs from
there with this venv's Python). Two runs of one relay on different days say little about a few
ms; two relays in one run, paired by round, can.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import disturbance
from .figures import added_over_direct
from .launch import is_checkout
from .paired import FIGURES, LATENCIES, pair_rounds, paired_table, phases_table
from .phases import RelaySetup, Servers, phase, servers
from .reports import machine, write_json


def parse_env(items: Sequence[str], flag: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"{flag} wants KEY=VALUE (e.g. AUDIO_CHUNK_MS=100), got {item!r}")
        env[key] = value
    return env


def parse_root(path: str | None, flag: str) -> Path | None:
    if path is None:
        return None
    root = Path(path).resolve()
    if not is_checkout(root):
        raise SystemExit(
            f"{flag} {path}: no trio_relay package there; give a checkout of trio-relay, e.g. "
            "one made with `git worktree add /tmp/trio-relay-base <commit>`"
        )
    return root


def relay_setups(args: argparse.Namespace) -> tuple[RelaySetup, RelaySetup]:
    return (
        RelaySetup("A", parse_env(args.a_env, "--a-env"), parse_root(args.a_dir, "--a-dir")),
        RelaySetup("B", parse_env(args.b_env, "--b-env"), parse_root(args.b_dir, "--b-dir")),
    )


def cmd_compare(args: argparse.Namespace) -> int:
    if args.relay_url:
        raise SystemExit("bench compare starts its own relays, two of them: drop --relay-url")
    if args.tls and not args.no_direct:
        raise SystemExit("--tls measures the relay's wss:// hop: add --no-direct")
    if args.rounds < 1:
        raise SystemExit(f"--rounds must be at least 1, got {args.rounds}")
    a, b = relay_setups(args)
    latencies = LATENCIES[args.mode]
    figures = FIGURES[args.mode]
    report: dict[str, Any] = {
        "machine": machine(),
        "argv": sys.argv[1:],
        "mode": args.mode,
        "sessions": args.sessions,
        "workers": args.workers,
        "rounds": args.rounds,
        "a": {"env": dict(a.env), "root": str(a.root) if a.root else None},
        "b": {"env": dict(b.env), "root": str(b.root) if b.root else None},
        "phases": [],
    }
    rows: list[tuple[int | None, str, dict[str, Any]]] = []
    rounds: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def measure(
        running: Servers, target: str, number: int | None, setup: RelaySetup = a
    ) -> dict[str, Any]:
        name = setup.name if target == "relay" else ""
        result = phase(
            args,
            running,
            target=target,
            mode=args.mode,
            sessions=args.sessions,
            workers=args.workers if target == "relay" else None,
            text_interval_s=args.text_interval,
            relay=setup,
            name=name if number is None else f"{name} round {number}".strip(),
        )
        result["relay"] = setup.name if target == "relay" else None
        result["round"] = number
        report["phases"].append(result)
        rows.append((number, setup.name if target == "relay" else "direct", result))
        return result

    with servers(args) as running:
        direct = None
        if not args.no_direct and not args.direct_each_round:
            direct = measure(running, "direct", None)
        for number in range(1, args.rounds + 1):
            if not args.no_direct and args.direct_each_round:
                direct = measure(running, "direct", number)
            pair: list[dict[str, Any]] = []
            for setup in (a, b):
                result = measure(running, "relay", number, setup)
                result.update(added_over_direct(result, direct, latencies))
                pair.append(result)
            rounds.append((pair[0], pair[1]))
    report["paired"] = pair_rounds(rounds, figures)

    direct_when = (
        "no direct phase"
        if args.no_direct
        else "a direct phase every round"
        if args.direct_each_round
        else "one direct phase first"
    )
    print(
        f"\ncompare: {args.mode}, {args.sessions} sessions; relay --workers {args.workers}; "
        f"{args.rounds} round{'s' if args.rounds > 1 else ''} of A then B, a fresh relay each; "
        f"{direct_when}; {args.duration:g} s measured after {args.warmup:g} s warm-up"
    )
    print(f"A: {a.describe()}\nB: {b.describe()}\n")
    print(phases_table(args.mode, rows))
    print("\npaired by round, B against A:\n")
    print(paired_table(report["paired"], figures))
    disturbance.print_footnote(report["phases"], args.disturbed_pct)
    report.update(disturbance.summary(args, report["phases"]))
    write_json(args, report)
    return disturbance.verdict(args, report["phases"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=("audio", "text"), default="audio")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="relay worker processes (1)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of A then B (3)")
    for side in ("a", "b"):
        parser.add_argument(
            f"--{side}-env",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"a setting of relay {side.upper()}, over the benchmark's (repeatable)",
        )
        parser.add_argument(
            f"--{side}-dir",
            metavar="PATH",
            help=f"run relay {side.upper()}'s code from this checkout (e.g. a git worktree)",
        )
    parser.add_argument(
        "--direct-each-round",
        action="store_true",
        help="a direct phase at the start of every round, not once before the first",
    )
