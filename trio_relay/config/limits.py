"""The relay's limits: sizes, timeouts, caps and per-session budgets, each a named setting with
its default here (and in the README's tables, which a test holds to these). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ..errors import ConfigError
from .env import flag, number, whole_number


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


def _audio_chunk_ms(env: Mapping[str, str], default: int) -> int:
    chunk = whole_number(env, "AUDIO_CHUNK_MS", default, minimum=0)
    if 0 < chunk < 10:
        raise ConfigError("AUDIO_CHUNK_MS", f"must be 0 (no chunk) or at least 10, got {chunk}")
    return chunk


def limits_from_env(env: Mapping[str, str]) -> Limits:
    d = Limits()
    return Limits(
        audio_chunk_ms=_audio_chunk_ms(env, d.audio_chunk_ms),
        max_message_bytes=whole_number(env, "MAX_MESSAGE_BYTES", d.max_message_bytes, minimum=1024),
        max_user_text_bytes=whole_number(
            env, "MAX_USER_TEXT_BYTES", d.max_user_text_bytes, minimum=1
        ),
        handshake_timeout_s=number(
            env, "HANDSHAKE_TIMEOUT_S", d.handshake_timeout_s, low=0.1, high=3600
        ),
        upstream_connect_timeout_s=number(
            env, "UPSTREAM_CONNECT_TIMEOUT_S", d.upstream_connect_timeout_s, low=0.1, high=3600
        ),
        upstream_session_timeout_s=number(
            env, "UPSTREAM_SESSION_TIMEOUT_S", d.upstream_session_timeout_s, low=0.1, high=3600
        ),
        upstream_send_timeout_s=number(
            env, "UPSTREAM_SEND_TIMEOUT_S", d.upstream_send_timeout_s, low=0.1, high=3600
        ),
        close_timeout_s=number(env, "CLOSE_TIMEOUT_S", d.close_timeout_s, low=0.0, high=600),
        audio_queue_frames=whole_number(env, "AUDIO_QUEUE_FRAMES", d.audio_queue_frames, minimum=1),
        audio_burst_ms=whole_number(env, "AUDIO_BURST_MS", d.audio_burst_ms, minimum=0),
        downstream_buffer_ms=whole_number(
            env, "DOWNSTREAM_BUFFER_MS", d.downstream_buffer_ms, minimum=100
        ),
        idle_timeout_s=number(env, "IDLE_TIMEOUT_S", d.idle_timeout_s, low=1, high=86400),
        drain_grace_s=number(env, "DRAIN_GRACE_S", d.drain_grace_s, low=0, high=3600),
        max_sessions=whole_number(env, "MAX_SESSIONS", d.max_sessions, minimum=1),
        max_sessions_per_ip=whole_number(
            env, "MAX_SESSIONS_PER_IP", d.max_sessions_per_ip, minimum=1
        ),
        max_connections=whole_number(env, "MAX_CONNECTIONS", d.max_connections, minimum=1),
        max_connections_per_ip=whole_number(
            env, "MAX_CONNECTIONS_PER_IP", d.max_connections_per_ip, minimum=1
        ),
        max_request_body_bytes=whole_number(
            env, "MAX_REQUEST_BODY_BYTES", d.max_request_body_bytes, minimum=0
        ),
        write_timeout_s=number(env, "WRITE_TIMEOUT_S", d.write_timeout_s, low=0.1, high=3600),
        keepalive_timeout_s=number(
            env, "KEEPALIVE_TIMEOUT_S", d.keepalive_timeout_s, low=0.1, high=3600
        ),
        max_message_fragments=whole_number(
            env, "MAX_MESSAGE_FRAGMENTS", d.max_message_fragments, minimum=1
        ),
        static_max_bytes=whole_number(env, "STATIC_MAX_BYTES", d.static_max_bytes, minimum=0),
        upstream_response_timeout_s=number(
            env, "UPSTREAM_RESPONSE_TIMEOUT_S", d.upstream_response_timeout_s, low=0.1, high=3600
        ),
        retry_failed_responses=flag(env, "RETRY_FAILED_RESPONSES", d.retry_failed_responses),
        max_session_s=number(env, "MAX_SESSION_S", d.max_session_s, low=1, high=7 * 86400),
        max_user_messages_per_min=whole_number(
            env, "MAX_USER_MESSAGES_PER_MIN", d.max_user_messages_per_min, minimum=1
        ),
        max_user_text_bytes_per_min=whole_number(
            env, "MAX_USER_TEXT_BYTES_PER_MIN", d.max_user_text_bytes_per_min, minimum=1
        ),
        max_responses_per_min=whole_number(
            env, "MAX_RESPONSES_PER_MIN", d.max_responses_per_min, minimum=1
        ),
    )
