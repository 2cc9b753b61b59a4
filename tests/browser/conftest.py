"""Fixtures of the real-browser tests: a built frontend and Debian's Chromium.

Neither is skipped when missing: a missing ``frontend/dist`` is built (``npm ci`` only when
``node_modules`` is absent, then ``npm run build``), a missing Chromium fails with the command
that installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FRONTEND = REPO / "frontend"
DIST = FRONTEND / "dist"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
BUILD_TIMEOUT_S = 300


def _newest_source_mtime() -> float:
    sources = [FRONTEND / "index.html", FRONTEND / "package-lock.json", FRONTEND / "vite.config.ts"]
    sources += [p for p in (FRONTEND / "src").rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in sources if p.exists())


def _run(command: list[str]) -> None:
    npm = shutil.which(command[0])
    if npm is None:
        pytest.fail(
            f"frontend/dist is missing or stale and {command[0]!r} is not on PATH: install "
            "Node 20+ or build the frontend first (cd frontend && npm ci && npm run build)",
            pytrace=False,
        )
    done = subprocess.run(
        [npm, *command[1:]],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` in frontend/ failed with exit code {done.returncode}:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def frontend_dist() -> Path:
    """``frontend/dist``, built now if it is missing or older than the frontend's sources."""
    index = DIST / "index.html"
    if not index.exists() or index.stat().st_mtime < _newest_source_mtime():
        if not (FRONTEND / "node_modules" / ".bin" / "vite").exists():
            _run(["npm", "ci", "--no-audit", "--no-fund"])
        _run(["npm", "run", "build"])
    if not index.exists():
        pytest.fail("`npm run build` succeeded but frontend/dist/index.html is missing")
    return DIST


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (Debian), or set CHROMIUM "
            "to a Chromium binary; the browser tests never download one",
            pytrace=False,
        )
    return CHROMIUM
