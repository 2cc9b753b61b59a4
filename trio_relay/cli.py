"""Command line: argv and environment (plus ``.env``) -> configuration -> a running relay.

A bad configuration prints one line naming the variable and what is wrong, and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import attrs
import trio
from dotenv import dotenv_values

from .client_auth import REGISTERED_CLAIMS, ClientAuthMode, mint_ticket
from .config import (
    MIN_TICKET_SECRET_BYTES,
    Access,
    Backend,
    Dialect,
    RelayConfig,
    is_loopback,
    load_config,
)
from .errors import ConfigError
from .log import get_logger, setup_logging
from .server import Relay
from .serving import serve_relay
from .static import check_static_dir
from .tools.loading import load_toolbox
from .tools.toolbox import Toolbox
from .workers import exit_when_supervisor_gone, label_worker_logs, supervise, worker_place

log = get_logger("trio_relay")

EXIT_CONFIG_ERROR = 2


def environment(dotenv_path: str = ".env") -> dict[str, str]:
    """The process environment over the ``.env`` file of the working directory (env wins)."""
    values = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}
    values.update(os.environ)
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="trio-relay",
        description="Relay browser voice/text clients to the OpenAI / Azure OpenAI Realtime API. "
        "Configuration comes from the environment and a .env file; flags override it.",
    )
    parser.add_argument("--host", help="interface to listen on (env HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (env PORT, default 8080)")
    parser.add_argument(
        "--workers",
        type=int,
        help="worker processes sharing the port (env WORKERS, default: number of cores)",
    )
    parser.add_argument(
        "--record",
        metavar="DIR",
        help="write each session's event streams to DIR/<session id>.jsonl (env RECORD_DIR; "
        "audio redacted unless RECORD_AUDIO=1)",
    )
    # A worker of --workers N (started by the supervisor, see trio_relay.workers).
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--supervisor-fd", type=int, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="{ticket}")
    ticket = commands.add_parser(
        "ticket", help="mint a signed client ticket (CLIENT_AUTH=ticket; needs TICKET_SECRET)"
    )
    ticket.add_argument("--sub", required=True, help="subject: who the ticket is for")
    ticket.add_argument("--ttl", type=int, default=300, help="seconds until it expires (300)")
    ticket.add_argument(
        "--claim",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra claim, e.g. a budget: max_session_s=600 (repeatable; JSON values)",
    )
    return parser.parse_args(argv)


def describe(config: RelayConfig) -> str:
    if config.backend is Backend.FAKE:
        return "the bundled fake upstream (offline demo mode)"
    assert config.upstream is not None
    auth = "Entra ID" if config.upstream.use_entra_id else "API key"
    return f"{config.backend.value} ({config.upstream.dialect.value} dialect, {auth})"


async def run(
    config: RelayConfig, supervisor_fd: int | None = None, toolbox: Toolbox | None = None
) -> None:
    """Serve until SIGTERM/SIGINT, then drain gracefully; a second signal stops at once.
    A worker also stops (as on SIGTERM) when its supervisor's end of ``supervisor_fd`` closes."""
    if config.worker is not None:
        label_worker_logs(config.worker)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            if supervisor_fd is not None:
                nursery.start_soon(exit_when_supervisor_gone, supervisor_fd)
            relay: Relay = await nursery.start(partial(serve_relay, config, toolbox=toolbox))
            log.info(
                "trio-relay listening",
                url=f"http://{config.host}:{relay.port}",
                upstream=describe(config),
                pid=os.getpid(),
            )
            if toolbox:
                log.info(
                    "server-side tools",
                    tools=sorted(toolbox.functions),
                    mcp_servers=[server.label for server in toolbox.mcp_servers],
                )
            warn_unsent_settings(config)
            access = config.access
            if access.client_auth.mode is ClientAuthMode.NONE and not is_loopback(config.host):
                log.warning(
                    "CLIENT AUTHENTICATION IS OFF on a non-loopback address "
                    "(ALLOW_UNAUTHENTICATED=1): anyone who can reach this port can spend your "
                    "API quota; set CLIENT_AUTH=token or ticket",
                    host=config.host,
                )
            if config.backend is Backend.FAKE:
                log.info(
                    "no credentials configured: running on the bundled fake upstream "
                    "(set OPENAI_API_KEY or AZURE_OPENAI_ENDPOINT to use a real one)"
                )
            print(f"trio-relay ready: ws://{config.host}:{relay.port}/realtime", flush=True)
            draining = False
            async for signum in signals:
                if draining:
                    log.warning("second signal: stopping now", signal=signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()
                    break
                log.info("signal: draining, then exiting", signal=signal.Signals(signum).name)
                draining = True
                nursery.start_soon(drain_then_stop, relay, nursery.cancel_scope)


async def drain_then_stop(relay: Relay, scope: trio.CancelScope) -> None:
    await relay.shutdown()
    scope.cancel()


def check_record_dir(config: RelayConfig) -> None:
    """``RECORD_DIR`` is created if need be and must be writable: said at start-up, not per
    session."""
    path = config.record.dir
    if path is None:
        return
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ConfigError("RECORD_DIR", f"cannot create {path!r}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError("RECORD_DIR", f"{path!r} is not a writable directory")


def warn_unsent_settings(config: RelayConfig) -> None:
    """Settings the beta session has no field for are left out of its ``session.update``: say
    so once, rather than let the operator believe they apply."""
    upstream = config.upstream
    if upstream is not None and upstream.dialect is Dialect.BETA:
        if unsent := config.session.ga_only_settings():
            log.warning(
                "not sent to this beta-dialect upstream (the beta session has no such field; "
                "a GA api-version takes them)",
                settings=unsent,
            )


def check_tools_dialect(config: RelayConfig, toolbox: Toolbox) -> None:
    """MCP servers are a GA Realtime feature: an Azure preview (beta) upstream refuses them."""
    if toolbox.mcp_servers and config.upstream and config.upstream.dialect is Dialect.BETA:
        raise ConfigError(
            "MCP_SERVERS",
            "remote MCP servers need the GA Realtime protocol; this AZURE_OPENAI_API_VERSION "
            "speaks the beta dialect (use a GA api-version, or unset MCP_SERVERS)",
        )


def mint(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Print a ticket (a JWT) for ``--sub``: the relay's own way to mint what a backend would."""
    try:
        ticket = _ticket(args, env)
    except ConfigError as exc:
        print(f"trio-relay: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    print(ticket)
    return 0


def _ticket(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    secret = env.get("TICKET_SECRET", "")
    if len(secret.encode()) < MIN_TICKET_SECRET_BYTES:
        raise ConfigError(
            "TICKET_SECRET",
            f"must be set (at least {MIN_TICKET_SECRET_BYTES} bytes) to mint tickets",
        )
    defaults = Access()
    audience = env.get("TICKET_AUDIENCE", "").strip() or defaults.ticket_audience
    try:
        max_lifetime_s = int(env.get("TICKET_MAX_LIFETIME_S", "") or defaults.ticket_max_lifetime_s)
    except ValueError:
        raise ConfigError("TICKET_MAX_LIFETIME_S", "must be a whole number of seconds") from None
    if not 0 < args.ttl <= max_lifetime_s:
        raise ConfigError(
            "--ttl", f"must be between 1 and TICKET_MAX_LIFETIME_S ({max_lifetime_s}) seconds"
        )
    claims: dict[str, Any] = {}
    for given in args.claim:
        key, sep, raw = given.partition("=")
        if not sep or not key.strip():
            raise ConfigError("--claim", f"expected KEY=VALUE, got {given!r}")
        if key.strip() in REGISTERED_CLAIMS:
            raise ConfigError("--claim", f"{key.strip()!r} is set by the ticket itself")
        try:
            claims[key.strip()] = json.loads(raw)
        except ValueError:
            claims[key.strip()] = raw  # not JSON: a string
    now = int(time.time())
    return mint_ticket(
        secret.encode(),
        args.sub,
        now + args.ttl,
        issued_at=now,
        audience=audience,
        jti=secrets.token_urlsafe(16),  # so tickets work with TICKET_ONE_TIME=1 too
        claims=claims,
    )


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = parse_args(argv)
    env = environment() if env is None else env
    if args.command == "ticket":
        return mint(args, env)
    if args.record is not None:
        # The flag is the variable (workers inherit the environment, not the flags).
        os.environ["RECORD_DIR"] = args.record
        env = {**env, "RECORD_DIR": args.record}
    try:
        config = load_config(env, host=args.host, port=args.port, workers=args.workers)
        check_record_dir(config)
        toolbox = load_toolbox(config.tools, env)
        check_tools_dialect(config, toolbox)
        # Here, not only when a worker loads it: a supervisor would restart such workers forever.
        check_static_dir(config.static_dir, max_bytes=config.limits.static_max_bytes)
    except ConfigError as exc:
        print(f"trio-relay: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    setup_logging(config.log_level)
    if args.reuse_port:
        config = attrs.evolve(config, reuse_port=True, workers=1)
    if args.worker_index is not None:
        try:
            place = worker_place(args.worker_index, args.supervisor_fd)
        except ConfigError as exc:
            print(f"trio-relay: configuration error: {exc}", file=sys.stderr)
            return EXIT_CONFIG_ERROR
        config = attrs.evolve(config, reuse_port=True, workers=1, worker=place)
    try:
        if config.workers > 1:
            trio.run(supervise, config)
        else:
            trio.run(run, config, args.supervisor_fd, toolbox)
    except (OSError, ConfigError, BaseExceptionGroup) as raised:
        # Start-up failures arrive wrapped in the nurseries they crossed: one line for each.
        cause = sole_cause(raised)
        if isinstance(cause, ConfigError):
            print(f"trio-relay: configuration error: {cause}", file=sys.stderr)
            return EXIT_CONFIG_ERROR
        if not isinstance(cause, OSError):
            raise
        print(
            f"trio-relay: cannot listen on {config.host}:{config.port}: {cause.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0


def sole_cause(raised: BaseException) -> BaseException:
    """The one exception inside nested exception groups (or the group, if it holds several)."""
    while isinstance(raised, BaseExceptionGroup) and len(raised.exceptions) == 1:
        raised = raised.exceptions[0]
    return raised


if __name__ == "__main__":
    sys.exit(main())
