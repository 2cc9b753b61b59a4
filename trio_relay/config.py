"""Configuration: read once at start-up from the environment (and ``.env``) into frozen attrs.

Every setting has its default here and nowhere else; :func:`load_config` turns a plain mapping of
environment variables into a :class:`RelayConfig` or raises :class:`ConfigError` naming the variable
and what is wrong with it. No I/O besides what the caller passes in.
"""

from __future__ import annotations

import math
import os
import ssl
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import attrs

from .client_auth import ClientAuth, ClientAuthMode, TicketRules
from .errors import ConfigError

T = TypeVar("T")

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-realtime"
# Served at / when it holds a build (index.html); relative to the working directory.
DEFAULT_STATIC_DIR = "frontend/dist"
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"


class Backend(StrEnum):
    OPENAI = "openai"
    AZURE = "azure"
    FAKE = "fake"


class Dialect(StrEnum):
    """Which Realtime protocol the upstream speaks: GA by default, beta for Azure previews."""

    GA = "ga"
    BETA = "beta"


@attrs.frozen
class SessionSettings:
    """Server-side settings sent upstream in ``session.update``; never taken from browsers."""

    instructions: str = (
        "You are a helpful, concise voice assistant. Answer in one or two short sentences."
    )
    voice: str = "alloy"
    output_modality: Literal["audio", "text"] = "audio"
    transcription_model: str | None = "whisper-1"
    vad_threshold: float = 0.5
    vad_prefix_padding_ms: int = 300
    vad_silence_duration_ms: int = 500
    greeting: str = "Hi! Type a message or turn on the microphone and start talking."


@attrs.frozen
class Limits:
    """Sizes and timeouts. Each is a named setting with its default documented in the README."""

    # 0: microphone audio goes upstream as it comes (gathered only while the upstream write
    # before it is under way); N: read a streaming microphone once per N ms (less CPU, more
    # latency).
    audio_chunk_ms: int = 0
    max_message_bytes: int = 256 * 1024
    max_user_text_bytes: int = 16 * 1024
    handshake_timeout_s: float = 10.0
    upstream_connect_timeout_s: float = 10.0
    upstream_session_timeout_s: float = 10.0
    upstream_send_timeout_s: float = 10.0
    close_timeout_s: float = 2.0
    audio_queue_frames: int = 32
    audio_burst_ms: int = 2000
    downstream_buffer_ms: int = 10_000
    idle_timeout_s: float = 300.0
    drain_grace_s: float = 10.0
    max_sessions: int = 500
    max_sessions_per_ip: int = 50
    # --- the edge (plain HTTP and the WebSocket handshake) ---
    # Open connections that are not (yet) sessions: requests being read or answered, keep-alive.
    max_connections: int = 1024
    max_connections_per_ip: int = 64
    max_request_body_bytes: int = 64 * 1024
    # A client that takes no bytes of a response or a WebSocket frame for this long is dropped.
    write_timeout_s: float = 10.0
    keepalive_timeout_s: float = 5.0
    max_message_fragments: int = 1024
    # The built frontend (STATIC_DIR, with its .br/.gz variants) is held in memory: at most this.
    static_max_bytes: int = 64 * 1024 * 1024
    # --- the upstream ---
    # A turn (or a response in progress) the upstream does not answer for this long.
    upstream_response_timeout_s: float = 30.0
    retry_failed_responses: bool = True
    # --- per-session budgets (a ticket's claims may set them per client) ---
    max_session_s: float = 3600.0
    max_user_messages_per_min: int = 30
    max_user_text_bytes_per_min: int = 64 * 1024
    max_responses_per_min: int = 30


@attrs.frozen
class UpstreamTarget:
    """Where and how to connect upstream. Secrets are kept out of ``repr``."""

    backend: Backend
    url: str
    dialect: Dialect
    api_key: str | None = attrs.field(default=None, repr=False)
    use_entra_id: bool = False
    # wss:// trusts only the CA certificates in this PEM file (UPSTREAM_CA_FILE); None: the
    # system's trust store (OpenSSL's default paths, which honour SSL_CERT_FILE/SSL_CERT_DIR).
    ca_file: str | None = None


@attrs.frozen
class Access:
    """Who may open a session: allowed browser origins and client authentication."""

    allowed_origins: tuple[str, ...] = ("loopback",)
    client_auth: ClientAuth = ClientAuth()
    allow_unauthenticated: bool = False
    # Behind a reverse proxy / ingress, the client address is the X-Forwarded-For entry
    # trusted_proxy_hops from the right (1: the one our own ingress appended).
    trust_forwarded_for: bool = False
    trusted_proxy_hops: int = 1
    # Tickets (CLIENT_AUTH=ticket): JWTs (HS256) with this audience, at most this lifetime.
    ticket_audience: str = "trio-relay"
    ticket_max_lifetime_s: int = 24 * 3600
    ticket_leeway_s: int = 30
    ticket_one_time: bool = False
    # /metrics: a bearer token it requires (None: open), and/or a port of its own.
    metrics_token: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class Recording:
    """``--record DIR``: each session's streams as JSON Lines in ``dir`` (see trio_relay.record)."""

    dir: str | None = None  # None: recording is off
    keep_audio: bool = False  # RECORD_AUDIO=1: audio recorded as base64, not as its length
    buffer_bytes: int = 4 * 1024 * 1024  # per session; past it, lines are dropped and counted


@attrs.frozen
class ToolSettings:
    """Server-side tools (trio_relay.tools): where they come from and the bounds on a call."""

    modules: tuple[str, ...] = ()  # TOOLS: modules whose @tool functions the model may call
    mcp_servers: str | None = None  # MCP_SERVERS: a JSON or TOML file of remote MCP servers
    timeout_s: float = 10.0
    events_detail: bool = False  # arguments and outputs in the browser's tool_call messages
    max_calls_per_response: int = 8
    threads: int = 8  # worker threads for plain-def tools, per process
    max_output_bytes: int = 32 * 1024


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


# --- parsing helpers -------------------------------------------------------------------------


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
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


def _float(env: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
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


def _choice(env: Mapping[str, str], name: str, choices: Callable[[str], T], default: T) -> T:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    try:
        return choices(raw)
    except ValueError:
        raise ConfigError(name, f"unsupported value {raw!r}") from None


def _str(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name)
    return default if raw is None or raw.strip() == "" else raw


def _ws_base(url: str, variable: str) -> str:
    """Normalise an http(s)/ws(s) base URL to ws(s), without a trailing slash."""
    parts = urlsplit(url.strip())
    schemes = {"https": "wss", "wss": "wss", "http": "ws", "ws": "ws"}
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigError(
            variable, f"must be an https:// (or wss://, http:// for local tests) URL, got {url!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigError(variable, "must not have a query string or fragment")
    return urlunsplit((schemes[parts.scheme], parts.netloc, parts.path.rstrip("/"), "", ""))


# --- upstream targets ------------------------------------------------------------------------


def openai_target(
    base_url: str, model: str, api_key: str, *, variable: str = "OPENAI_BASE_URL"
) -> UpstreamTarget:
    base = _ws_base(base_url, variable)
    url = f"{base}/realtime?model={quote(model, safe='')}"
    return UpstreamTarget(Backend.OPENAI, url, Dialect.GA, api_key=api_key)


def azure_target(
    endpoint: str, deployment: str, *, api_key: str | None, api_version: str | None
) -> UpstreamTarget:
    base = _ws_base(endpoint, "AZURE_OPENAI_ENDPOINT")
    if api_version:
        url = (
            f"{base}/openai/realtime?api-version={quote(api_version, safe='')}"
            f"&deployment={quote(deployment, safe='')}"
        )
        dialect = Dialect.BETA
    else:
        url = f"{base}/openai/v1/realtime?model={quote(deployment, safe='')}"
        dialect = Dialect.GA
    return UpstreamTarget(
        Backend.AZURE, url, dialect, api_key=api_key, use_entra_id=api_key is None
    )


def fake_target(fake_url: str, model: str) -> UpstreamTarget:
    """The bundled fake upstream, spoken to exactly as OpenAI GA is (same path and auth), but
    named ``fake`` wherever the backend shows (logs, messages)."""
    target = openai_target(f"{fake_url}/v1", model, "fake-upstream-key", variable="fake upstream")
    return attrs.evolve(target, backend=Backend.FAKE)


def _backend(env: Mapping[str, str]) -> tuple[Backend, bool]:
    raw = env.get("BACKEND", "").strip().lower()
    if raw:
        try:
            return Backend(raw), False
        except ValueError:
            raise ConfigError("BACKEND", f"must be openai, azure or fake, got {raw!r}") from None
    if env.get("AZURE_OPENAI_ENDPOINT", "").strip():
        return Backend.AZURE, True
    if env.get("OPENAI_API_KEY", "").strip():
        return Backend.OPENAI, True
    return Backend.FAKE, True


def _require(env: Mapping[str, str], name: str, why: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(name, f"is required {why}")
    return value


def _upstream(env: Mapping[str, str], backend: Backend) -> UpstreamTarget | None:
    if backend is Backend.OPENAI:
        key = _require(env, "OPENAI_API_KEY", "with BACKEND=openai")
        return openai_target(
            _str(env, "OPENAI_BASE_URL", DEFAULT_OPENAI_BASE_URL),
            _str(env, "OPENAI_MODEL", DEFAULT_OPENAI_MODEL),
            key,
        )
    if backend is Backend.AZURE:
        endpoint = _require(env, "AZURE_OPENAI_ENDPOINT", "with BACKEND=azure")
        deployment = _require(env, "AZURE_OPENAI_DEPLOYMENT", "with BACKEND=azure")
        return azure_target(
            endpoint,
            deployment,
            api_key=env.get("AZURE_OPENAI_API_KEY", "").strip() or None,
            api_version=env.get("AZURE_OPENAI_API_VERSION", "").strip() or None,
        )
    return None


def _with_ca_file(env: Mapping[str, str], target: UpstreamTarget | None) -> UpstreamTarget | None:
    ca_file = env.get("UPSTREAM_CA_FILE", "").strip()
    if not ca_file:
        return target
    try:
        ssl.create_default_context(cafile=ca_file)  # read now, so that a bad file stops start-up
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            "UPSTREAM_CA_FILE",
            f"is {ca_file!r}, which holds no CA certificates that can be loaded ({exc}): "
            "give a PEM file of CA certificates",
        ) from None
    return None if target is None else attrs.evolve(target, ca_file=ca_file)


def _check_transport_security(env: Mapping[str, str], target: UpstreamTarget | None) -> None:
    """A credential never crosses a network in clear text, unless the operator says so."""
    if target is None or _flag(env, "ALLOW_INSECURE_UPSTREAM"):
        return
    parts = urlsplit(target.url)
    if parts.scheme == "ws" and not is_loopback(parts.hostname or ""):
        variable = (
            "OPENAI_BASE_URL" if target.backend is Backend.OPENAI else "AZURE_OPENAI_ENDPOINT"
        )
        raise ConfigError(
            variable,
            f"is a plain http:// or ws:// URL to {parts.hostname}, which would send the "
            "credential unencrypted: use https://, or set ALLOW_INSECURE_UPSTREAM=1 to allow it",
        )


def _session(env: Mapping[str, str]) -> SessionSettings:
    d = SessionSettings()
    transcription = env.get("TRANSCRIPTION_MODEL")
    return SessionSettings(
        instructions=_str(env, "INSTRUCTIONS", d.instructions),
        voice=_str(env, "VOICE", d.voice),
        output_modality=_choice(env, "OUTPUT_MODALITY", _modality, d.output_modality),
        transcription_model=(
            d.transcription_model if transcription is None else (transcription.strip() or None)
        ),
        vad_threshold=_float(env, "VAD_THRESHOLD", d.vad_threshold, low=0.0, high=1.0),
        vad_prefix_padding_ms=_int(env, "VAD_PREFIX_PADDING_MS", d.vad_prefix_padding_ms),
        vad_silence_duration_ms=_int(
            env, "VAD_SILENCE_DURATION_MS", d.vad_silence_duration_ms, minimum=1
        ),
        greeting=_str(env, "GREETING", d.greeting),
    )


def _recording(env: Mapping[str, str]) -> Recording:
    d = Recording()
    return Recording(
        dir=env.get("RECORD_DIR", "").strip() or None,
        keep_audio=_flag(env, "RECORD_AUDIO", d.keep_audio),
        buffer_bytes=_int(env, "RECORD_BUFFER_BYTES", d.buffer_bytes, minimum=1024),
    )


def _tools(env: Mapping[str, str]) -> ToolSettings:
    d = ToolSettings()
    modules = tuple(m.strip() for m in env.get("TOOLS", "").split(",") if m.strip())
    return ToolSettings(
        modules=modules,
        mcp_servers=env.get("MCP_SERVERS", "").strip() or None,
        timeout_s=_float(env, "TOOL_TIMEOUT_S", d.timeout_s, low=0.1, high=3600),
        events_detail=_flag(env, "TOOL_EVENTS_DETAIL", d.events_detail),
        max_calls_per_response=_int(
            env, "TOOL_MAX_CALLS_PER_RESPONSE", d.max_calls_per_response, minimum=1
        ),
        threads=_int(env, "TOOL_THREADS", d.threads, minimum=1),
        max_output_bytes=_int(env, "TOOL_MAX_OUTPUT_BYTES", d.max_output_bytes, minimum=16),
    )


def _modality(raw: str) -> Literal["audio", "text"]:
    if raw == "audio":
        return "audio"
    if raw == "text":
        return "text"
    raise ValueError(raw)


def _audio_chunk_ms(env: Mapping[str, str], default: int) -> int:
    chunk = _int(env, "AUDIO_CHUNK_MS", default, minimum=0)
    if 0 < chunk < 10:
        raise ConfigError("AUDIO_CHUNK_MS", f"must be 0 (no chunk) or at least 10, got {chunk}")
    return chunk


def _limits(env: Mapping[str, str]) -> Limits:
    d = Limits()
    return Limits(
        audio_chunk_ms=_audio_chunk_ms(env, d.audio_chunk_ms),
        max_message_bytes=_int(env, "MAX_MESSAGE_BYTES", d.max_message_bytes, minimum=1024),
        max_user_text_bytes=_int(env, "MAX_USER_TEXT_BYTES", d.max_user_text_bytes, minimum=1),
        handshake_timeout_s=_float(
            env, "HANDSHAKE_TIMEOUT_S", d.handshake_timeout_s, low=0.1, high=3600
        ),
        upstream_connect_timeout_s=_float(
            env, "UPSTREAM_CONNECT_TIMEOUT_S", d.upstream_connect_timeout_s, low=0.1, high=3600
        ),
        upstream_session_timeout_s=_float(
            env, "UPSTREAM_SESSION_TIMEOUT_S", d.upstream_session_timeout_s, low=0.1, high=3600
        ),
        upstream_send_timeout_s=_float(
            env, "UPSTREAM_SEND_TIMEOUT_S", d.upstream_send_timeout_s, low=0.1, high=3600
        ),
        close_timeout_s=_float(env, "CLOSE_TIMEOUT_S", d.close_timeout_s, low=0.0, high=600),
        audio_queue_frames=_int(env, "AUDIO_QUEUE_FRAMES", d.audio_queue_frames, minimum=1),
        audio_burst_ms=_int(env, "AUDIO_BURST_MS", d.audio_burst_ms, minimum=0),
        downstream_buffer_ms=_int(env, "DOWNSTREAM_BUFFER_MS", d.downstream_buffer_ms, minimum=100),
        idle_timeout_s=_float(env, "IDLE_TIMEOUT_S", d.idle_timeout_s, low=1, high=86400),
        drain_grace_s=_float(env, "DRAIN_GRACE_S", d.drain_grace_s, low=0, high=3600),
        max_sessions=_int(env, "MAX_SESSIONS", d.max_sessions, minimum=1),
        max_sessions_per_ip=_int(env, "MAX_SESSIONS_PER_IP", d.max_sessions_per_ip, minimum=1),
        max_connections=_int(env, "MAX_CONNECTIONS", d.max_connections, minimum=1),
        max_connections_per_ip=_int(
            env, "MAX_CONNECTIONS_PER_IP", d.max_connections_per_ip, minimum=1
        ),
        max_request_body_bytes=_int(
            env, "MAX_REQUEST_BODY_BYTES", d.max_request_body_bytes, minimum=0
        ),
        write_timeout_s=_float(env, "WRITE_TIMEOUT_S", d.write_timeout_s, low=0.1, high=3600),
        keepalive_timeout_s=_float(
            env, "KEEPALIVE_TIMEOUT_S", d.keepalive_timeout_s, low=0.1, high=3600
        ),
        max_message_fragments=_int(
            env, "MAX_MESSAGE_FRAGMENTS", d.max_message_fragments, minimum=1
        ),
        static_max_bytes=_int(env, "STATIC_MAX_BYTES", d.static_max_bytes, minimum=0),
        upstream_response_timeout_s=_float(
            env, "UPSTREAM_RESPONSE_TIMEOUT_S", d.upstream_response_timeout_s, low=0.1, high=3600
        ),
        retry_failed_responses=_flag(env, "RETRY_FAILED_RESPONSES", d.retry_failed_responses),
        max_session_s=_float(env, "MAX_SESSION_S", d.max_session_s, low=1, high=7 * 86400),
        max_user_messages_per_min=_int(
            env, "MAX_USER_MESSAGES_PER_MIN", d.max_user_messages_per_min, minimum=1
        ),
        max_user_text_bytes_per_min=_int(
            env, "MAX_USER_TEXT_BYTES_PER_MIN", d.max_user_text_bytes_per_min, minimum=1
        ),
        max_responses_per_min=_int(
            env, "MAX_RESPONSES_PER_MIN", d.max_responses_per_min, minimum=1
        ),
    )


MIN_TICKET_SECRET_BYTES = 32


def _client_tokens(env: Mapping[str, str]) -> tuple[str, ...]:
    tokens = [t.strip() for t in env.get("CLIENT_TOKENS", "").split(",") if t.strip()]
    path = env.get("CLIENT_TOKENS_FILE", "").strip()
    if path:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as exc:
            raise ConfigError(
                "CLIENT_TOKENS_FILE", f"cannot read {path!r}: {exc.strerror}"
            ) from None
        tokens += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return tuple(tokens)


def _access(env: Mapping[str, str], host: str) -> Access:
    mode = _choice(env, "CLIENT_AUTH", ClientAuthMode, ClientAuthMode.NONE)
    tokens: tuple[str, ...] = ()
    secret: bytes | None = None
    if mode is ClientAuthMode.TOKEN:
        tokens = _client_tokens(env)
        if not tokens:
            raise ConfigError(
                "CLIENT_TOKENS", "is required with CLIENT_AUTH=token (or CLIENT_TOKENS_FILE)"
            )
        if any(len(t) < 16 for t in tokens):
            raise ConfigError("CLIENT_TOKENS", "every token must be at least 16 characters long")
    if mode is ClientAuthMode.TICKET:
        secret = env.get("TICKET_SECRET", "").encode()
        if len(secret) < MIN_TICKET_SECRET_BYTES:
            raise ConfigError(
                "TICKET_SECRET",
                f"is required with CLIENT_AUTH=ticket and must be at least "
                f"{MIN_TICKET_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)",
            )
    forced = _flag(env, "ALLOW_UNAUTHENTICATED")
    if mode is ClientAuthMode.NONE and not is_loopback(host) and not forced:
        raise ConfigError(
            "CLIENT_AUTH",
            f"is 'none' but HOST={host} is reachable from other machines: set CLIENT_AUTH=token "
            "or ticket, or ALLOW_UNAUTHENTICATED=1 to run without client authentication anyway",
        )
    origins = tuple(o.strip() for o in env.get("ALLOWED_ORIGINS", "").split(",") if o.strip())
    for origin in origins:
        if origin not in ("*", "loopback") and not origin.startswith(("http://", "https://")):
            raise ConfigError(
                "ALLOWED_ORIGINS",
                "entries are origins like https://app.example.com, 'loopback' or '*'; "
                f"got {origin!r}",
            )
    d = Access()
    access = Access(
        allowed_origins=origins or Access().allowed_origins,
        client_auth=ClientAuth(mode, tokens, secret),
        allow_unauthenticated=forced,
        trust_forwarded_for=_flag(env, "TRUST_X_FORWARDED_FOR"),
        trusted_proxy_hops=_int(env, "TRUSTED_PROXY_HOPS", d.trusted_proxy_hops, minimum=1),
        ticket_audience=_str(env, "TICKET_AUDIENCE", d.ticket_audience).strip(),
        ticket_max_lifetime_s=_int(
            env, "TICKET_MAX_LIFETIME_S", d.ticket_max_lifetime_s, minimum=1
        ),
        ticket_leeway_s=_int(env, "TICKET_LEEWAY_S", d.ticket_leeway_s, minimum=0),
        ticket_one_time=_flag(env, "TICKET_ONE_TIME"),
        metrics_token=env.get("METRICS_TOKEN", "").strip() or None,
    )
    rules = TicketRules(
        access.ticket_audience,
        access.ticket_max_lifetime_s,
        access.ticket_leeway_s,
        access.ticket_one_time,
    )
    return attrs.evolve(access, client_auth=ClientAuth(mode, tokens, secret, tickets=rules))


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ConfigError(name, f"must be 1/true/yes or 0/false/no, got {raw!r}")


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def load_config(
    env: Mapping[str, str],
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> RelayConfig:
    """Build the configuration from environment variables; ``host``/``port`` flags win over env."""
    backend, inferred = _backend(env)
    log_level = _str(env, "LOG_LEVEL", "INFO").strip().upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigError(
            "LOG_LEVEL", f"must be one of {', '.join(_LOG_LEVELS)}, got {log_level!r}"
        )
    resolved_port = port if port is not None else _int(env, "PORT", 8080)
    if not 0 <= resolved_port <= 65535:
        raise ConfigError("PORT", f"must be between 0 and 65535, got {resolved_port}")
    resolved_host = host if host is not None else _str(env, "HOST", "127.0.0.1").strip()
    resolved_workers = (
        workers if workers is not None else _int(env, "WORKERS", os.cpu_count() or 1, minimum=1)
    )
    if resolved_workers < 1:
        raise ConfigError("--workers", f"must be at least 1, got {resolved_workers}")
    upstream = _with_ca_file(env, _upstream(env, backend))
    _check_transport_security(env, upstream)
    metrics_port = _int(env, "METRICS_PORT", -1, minimum=0) if env.get("METRICS_PORT") else None
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
        session=_session(env),
        limits=_limits(env),
        access=_access(env, resolved_host),
        static_dir=env.get("STATIC_DIR", "").strip() or DEFAULT_STATIC_DIR,
        metrics_port=metrics_port,
        record=_recording(env),
        tools=_tools(env),
    )
