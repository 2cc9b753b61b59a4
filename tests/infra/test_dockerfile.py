"""Structure of the Dockerfile and .dockerignore, parsed here: there is no Docker engine to build.

Pins the three stages (node builds the frontend, python builds the package, a slim runtime with
only the results), the non-root user, the port, the stdlib health check and the exec-form
entrypoint, and checks the Dockerfile against the files it copies and pyproject.toml.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
import tomllib
from dataclasses import dataclass, field

import pytest
from bicep_model import REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def run_commands(self) -> str:
        return "\n".join(i.args for i in self.all("RUN"))

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for token in shlex.split(instruction.args):
                key, sep, value = token.partition("=")
                assert sep, f"line {instruction.line}: use ENV KEY=VALUE"
                values[key] = value
        return values


def instructions(text: str) -> list[Instruction]:
    """Logical instructions: comments and blank lines dropped, ``\\`` continuations joined."""
    result: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are ignored by Docker
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        logical = " ".join(part for part in pending if part)
        pending = []
        keyword, _, args = logical.partition(" ")
        result.append(Instruction(keyword.upper(), args.strip(), start))
    assert not pending, "Dockerfile ends inside a continued line"
    return result


def stages() -> list[Stage]:
    parsed: list[Stage] = []
    for instruction in instructions(DOCKERFILE.read_text()):
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            parsed.append(Stage(words[0], name))
        else:
            assert parsed or instruction.keyword == "ARG", f"{instruction.keyword} before FROM"
            if parsed:
                parsed[-1].instructions.append(instruction)
    return parsed


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def copy_parts(instruction: Instruction) -> tuple[dict[str, str], list[str], str]:
    """COPY [--flag=value ...] src... dest -> (flags, sources, dest)."""
    words = instruction.args.split()
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    return flags, words[:-1], words[-1]


def final() -> Stage:
    return stages()[-1]


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


# --- stages ------------------------------------------------------------------------------------


def test_three_stages_node_build_python_build_runtime() -> None:
    parsed = stages()
    assert [(s.image, s.name) for s in parsed] == [
        ("node:20-slim", "frontend-build"),
        ("python:3.11-slim", "python-build"),
        ("python:3.11-slim", "runtime"),
    ]


def test_frontend_stage_builds_with_npm_ci() -> None:
    frontend = stages()[0]
    commands = frontend.run_commands()
    assert "npm ci" in commands
    assert "npm run build" in commands
    assert commands.index("npm ci") < commands.index("npm run build")
    # The lockfile is copied (and installed) before the sources: a layer cached on dependencies.
    copies = [copy_parts(i) for i in frontend.all("COPY")]
    assert copies[0][1] == ["frontend/package.json", "frontend/package-lock.json"]
    build = frontend.instructions.index(
        next(i for i in frontend.all("RUN") if "npm run build" in i.args)
    )
    source_copy = next(i for i in frontend.all("COPY") if copy_parts(i)[1] == ["frontend/"])
    assert frontend.instructions.index(source_copy) < build


def test_python_stage_installs_the_package_into_a_venv() -> None:
    build = stages()[1]
    commands = build.run_commands()
    assert "python -m venv /opt/venv" in commands
    assert "/opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels ." in commands
    assert "/opt/venv/bin/pip install /wheels/*.whl" in commands
    copied = {src for i in build.all("COPY") for src in copy_parts(i)[1]}
    project = pyproject()
    assert project["project"]["readme"] in copied  # setuptools needs the readme to build
    assert "pyproject.toml" in copied
    for package in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert f"{package.rstrip('*')}/" in copied, package


def test_every_copied_source_exists_and_is_not_dockerignored() -> None:
    patterns = ignore_patterns()
    for stage in stages():
        for instruction in stage.all("COPY"):
            flags, sources, _ = copy_parts(instruction)
            if "from" in flags:
                continue
            for source in sources:
                assert (REPO / source).exists(), f"line {instruction.line}: {source} missing"
                assert not ignored(source.rstrip("/"), patterns), f"{source} is .dockerignored"


def test_runtime_holds_only_the_venv_and_the_frontend_build() -> None:
    runtime = final()
    copies = [copy_parts(i) for i in runtime.all("COPY")]
    assert copies == [
        ({"from": "python-build"}, ["/opt/venv"], "/opt/venv"),
        ({"from": "frontend-build"}, ["/src/frontend/dist"], "/app/frontend/dist"),
    ]
    assert not runtime.all("ADD")
    assert "pip install" not in runtime.run_commands()
    assert "npm" not in runtime.run_commands()


# --- runtime settings --------------------------------------------------------------------------


def test_runtime_runs_as_a_fixed_non_root_uid() -> None:
    runtime = final()
    users = runtime.all("USER")
    assert users, "no USER in the final stage"
    user, _, group = users[-1].args.partition(":")
    assert user.isdigit() and int(user) >= 1000, "numeric non-root UID (runAsNonRoot can check it)"
    assert group.isdigit() and int(group) != 0
    assert f"--uid {user}" in runtime.run_commands()
    assert f"--gid {group}" in runtime.run_commands()
    # Nothing after USER switches back to root.
    last_user = runtime.instructions.index(users[-1])
    assert not any(i.keyword == "RUN" for i in runtime.instructions[last_user:])


def test_runtime_environment_and_port() -> None:
    runtime = final()
    env = runtime.env()
    assert env["HOST"] == "0.0.0.0"
    assert env["PORT"] == "8080"
    assert env["STATIC_DIR"] == "/app/frontend/dist"
    assert env["STATIC_DIR"] == copy_parts(runtime.all("COPY")[1])[2]
    assert env["WORKERS"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert [i.args for i in runtime.all("EXPOSE")] == ["8080"]


def test_healthcheck_asks_healthz_with_the_standard_library() -> None:
    (healthcheck,) = final().all("HEALTHCHECK")
    options, _, command = healthcheck.args.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = exec_form(command)
    assert argv[:2] == ["python", "-c"]
    script = argv[2]
    assert "urllib.request" in script
    assert "/healthz" in script
    assert "127.0.0.1" in script
    assert "curl" not in healthcheck.args and "wget" not in healthcheck.args
    compile(script, "<healthcheck>", "exec")  # valid Python


def test_stops_with_sigterm_and_execs_trio_relay() -> None:
    runtime = final()
    assert [i.args for i in runtime.all("STOPSIGNAL")] == ["SIGTERM"]
    (entrypoint,) = runtime.all("ENTRYPOINT")
    assert exec_form(entrypoint.args) == ["trio-relay"]
    assert not runtime.all("CMD")
    assert "trio-relay" in pyproject()["project"]["scripts"]


# --- .dockerignore -----------------------------------------------------------------------------


def ignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Close enough to Docker's rules for these paths: a pattern matches the path or a parent."""
    result = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        bare = pattern.removeprefix("**/")
        for candidate in candidates:
            tail = candidate.split("/")[-1]
            if fnmatch.fnmatchcase(candidate, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatchcase(tail, bare)
            ):
                result = not negate
    return result


@pytest.mark.parametrize(
    "path",
    [
        ".venv",
        "node_modules",
        "frontend/node_modules",
        ".git",
        "frontend/dist",
        ".env",
        ".azure",
        "trio_relay/__pycache__",
        ".pytest_cache",
        "tests",
    ],
)
def test_dockerignore_excludes(path: str) -> None:
    assert ignored(path, ignore_patterns())


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "README.md",
        "trio_relay/cli.py",
        "fake_upstream/__init__.py",
        "frontend/package.json",
        "frontend/src",
    ],
)
def test_dockerignore_keeps_the_build_inputs(path: str) -> None:
    assert not ignored(path, ignore_patterns())
