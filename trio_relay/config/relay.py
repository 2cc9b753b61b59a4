"""The whole configuration (:class:`RelayConfig`) and :func:`load_config`, which reads it from
a mapping of environment variables through the readers of each part. Pure: no I/O besides the
files the operator names (CA certificates, client tokens)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from ..errors import ConfigError
from .access import Access, access_from_env
from .env import text, whole_number
from .limits import Limits, limits_from_env
from .prices import PriceTable, check_priced, prices_from_env
from .recording import Recording, recording_from_env
from .session import SessionSettings, session_from_env
from .tools import ToolSettings, tools_from_env
from .upstream import (
    DEFAULT_OPENAI_MODEL,
    Backend,
    UpstreamTarget,
    backend_from_env,
    upstream_from_env,
)

# Served at / when it holds a build (index.html); relative to the working directory.
DEFAULT_STATIC_DIR = "frontend/dist"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@attrs.frozen
class WorkerPlace:
    """A worker of ``--workers N`` (set by the command line, not a setting): its index and the
    relay's shared directory (metrics files, session slots) that its supervisor set up."""

    index: int
    shared_dir: str


@attrs.frozen
class RelayConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # Worker processes sharing the port (SO_REUSEPORT); a worker itself runs with reuse_port.
    workers: int = 1
    reuse_port: bool = False
    worker: WorkerPlace | None = None
    log_level: str = "INFO"
    backend: Backend = Backend.FAKE
    backend_was_inferred: bool = False
    # For openai / azure: fixed at start-up. For fake: None, resolved when the bundled
    # fake upstream has bound its ephemeral port (see :func:`fake_target`).
    upstream: UpstreamTarget | None = None
    session: SessionSettings = SessionSettings()
    limits: Limits = Limits()
    access: Access = Access()
    static_dir: str | None = None
    # Serve /metrics (only) on this port as well, e.g. one the ingress does not expose.
    metrics_port: int | None = None
    record: Recording = Recording()
    tools: ToolSettings = ToolSettings()
    prices: PriceTable | None = None  # PRICES: estimated costs per session


def load_config(
    env: Mapping[str, str],
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> RelayConfig:
    """Build the configuration from environment variables; ``host``/``port`` flags win over env."""
    backend, inferred = backend_from_env(env)
    log_level = text(env, "LOG_LEVEL", "INFO").strip().upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigError(
            "LOG_LEVEL", f"must be one of {', '.join(_LOG_LEVELS)}, got {log_level!r}"
        )
    resolved_port = port if port is not None else whole_number(env, "PORT", 8080)
    if not 0 <= resolved_port <= 65535:
        raise ConfigError("PORT", f"must be between 0 and 65535, got {resolved_port}")
    resolved_host = host if host is not None else text(env, "HOST", "127.0.0.1").strip()
    resolved_workers = (
        workers
        if workers is not None
        else whole_number(env, "WORKERS", os.cpu_count() or 1, minimum=1)
    )
    if resolved_workers < 1:
        raise ConfigError("--workers", f"must be at least 1, got {resolved_workers}")
    upstream = upstream_from_env(env, backend)
    prices = prices_from_env(env)
    model = DEFAULT_OPENAI_MODEL if upstream is None else (upstream.model or "")
    azure = backend is Backend.AZURE
    check_priced(prices, model, "AZURE_OPENAI_DEPLOYMENT" if azure else "OPENAI_MODEL")
    metrics_port = (
        whole_number(env, "METRICS_PORT", -1, minimum=0) if env.get("METRICS_PORT") else None
    )
    if metrics_port is not None and metrics_port > 65535:
        raise ConfigError("METRICS_PORT", f"must be between 0 and 65535, got {metrics_port}")
    return RelayConfig(
        host=resolved_host,
        port=resolved_port,
        workers=resolved_workers,
        log_level=log_level,
        backend=backend,
        backend_was_inferred=inferred,
        upstream=upstream,
        session=session_from_env(env, azure=azure),
        limits=limits_from_env(env),
        access=access_from_env(env, resolved_host),
        static_dir=env.get("STATIC_DIR", "").strip() or DEFAULT_STATIC_DIR,
        metrics_port=metrics_port,
        record=recording_from_env(env),
        tools=tools_from_env(env),
        prices=prices,
    )
