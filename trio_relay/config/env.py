"""Reading settings out of a plain mapping of environment variables: each reader returns the
default for an unset (or blank) variable, or raises :class:`ConfigError` naming the variable and
what is wrong with it. Pure: no I/O here."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast, get_args

from ..errors import ConfigError

T = TypeVar("T")


def whole_number(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {value}")
    return value


def number(env: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"must be a number, got {raw!r}") from None
    if not (low <= value <= high) or math.isnan(value):
        raise ConfigError(name, f"must be between {low} and {high}, got {raw}")
    return value


def choice(env: Mapping[str, str], name: str, choices: Callable[[str], T], default: T) -> T:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    try:
        return choices(raw)
    except ValueError:
        raise ConfigError(name, f"unsupported value {raw!r}") from None


def one_of(env: Mapping[str, str], name: str, kind: Any, default: T) -> T:
    """A value of the ``Literal`` type ``kind`` (given lower-case), or ``default`` when unset."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    allowed: tuple[str, ...] = get_args(kind)
    if raw not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}, got {raw!r}")
    return cast(T, raw)


def text(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name)
    return default if raw is None or raw.strip() == "" else raw


def flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ConfigError(name, f"must be 1/true/yes or 0/false/no, got {raw!r}")


def required(env: Mapping[str, str], name: str, why: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(name, f"is required {why}")
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only: what several settings' safety checks ask."""
    return host in ("localhost", "::1") or host.startswith("127.")
