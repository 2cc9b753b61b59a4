"""Other programs' load on the machine: waiting for quiet, and the verdict on disturbed phases.

A phase's ``other_cpu_pct`` is the machine's busy CPU that neither the relay, the fake nor the
generators used (other programs, the kernel's unattributed work). Above the threshold the
phase's figures are not to be trusted, so a run with one fails after printing its tables
(nothing measured is lost) unless ``--allow-disturbed`` accepts it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from typing import Any

from .figures import MARK
from .orchestrate import log
from .procs import machine_busy_seconds

DISTURBED_PCT = 15.0  # other programs' CPU (% of a core) above which a phase is disturbed
EXIT_DISTURBED = 3  # the exit status of a run with a disturbed phase (2 is argparse's)


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


def print_footnote(phases: Iterable[dict[str, Any]], threshold_pct: float) -> None:
    """The line under tables with marked rows (none when no row is marked)."""
    if any(p.get("disturbed") for p in phases):
        print(
            f"{MARK} disturbed: other programs used more than {threshold_pct:g}% of a core "
            "during the measured window"
        )


def summary(args: argparse.Namespace, phases: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The JSON report's record of the rule: the threshold and which phases broke it."""
    return {
        "disturbed_pct": args.disturbed_pct,
        "allow_disturbed": args.allow_disturbed,
        "disturbed_phases": [p["phase"] for p in phases if p.get("disturbed")],
    }


def verdict(args: argparse.Namespace, phases: Iterable[dict[str, Any]]) -> int:
    """The exit status, with one line naming every disturbed phase and its figure.

    Called after the tables and the JSON are out, so a failed run still shows what it measured.
    """
    disturbed = [p for p in phases if p.get("disturbed")]
    if not disturbed:
        return 0
    names = "; ".join(f"{p['phase']} (other CPU {p['other_cpu_pct']:.0f}%)" for p in disturbed)
    what = (
        f"{len(disturbed)} phase{'s' if len(disturbed) > 1 else ''} disturbed by other programs "
        f"(more than {args.disturbed_pct:g}% of a core besides the relay, the fake and the "
        f"generators): {names}"
    )
    if args.allow_disturbed:
        log(f"[bench] note: {what}. Accepted with --allow-disturbed, marked {MARK} in the tables")
        return 0
    log(
        f"[bench] FAILED: {what}. Their figures are not to be trusted: run again on a quiet "
        "machine (--wait-quiet 60 --retries 2), or pass --allow-disturbed to keep them"
    )
    return EXIT_DISTURBED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--disturbed-pct",
        type=float,
        default=DISTURBED_PCT,
        metavar="PCT",
        help="other programs' CPU (%% of a core) above which a phase is disturbed "
        f"({DISTURBED_PCT:g})",
    )
    parser.add_argument(
        "--allow-disturbed",
        action="store_true",
        help="exit 0 even when a phase stayed disturbed (its rows are marked *)",
    )
