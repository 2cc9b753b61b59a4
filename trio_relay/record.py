"""Recording sessions (``--record DIR`` / ``RECORD_DIR``): each session's four streams as JSON
Lines, so a production bug report can become a replay test (``fake-upstream --replay FILE``).

One file per session, ``DIR/<session id>.jsonl``; every line is one JSON object with ``t``
(seconds since the session started) and ``dir``, in the order the session saw them:

``{"t":0,"dir":"start","format":1,"session_id":"s-...","audio":"redacted"|"kept"}``
    the first line.
``{"t":..,"dir":"upstream_out","event":{...}}`` / ``{"t":..,"dir":"upstream_in","event":{...}}``
    a Realtime event the relay sent / received (parsed JSON). An upstream frame that is not a
    JSON object is ``"text": "..."``; a binary one ``"binary_bytes": N``. The upstream closing the
    connection is ``"close": {"code": 1011, "reason": "..."}`` (``"close": null``: dropped
    without a close frame).
``{"t":..,"dir":"client_in","text":"..."}`` / ``{"t":..,"dir":"client_out","text":"..."}``
    a browser text frame as the exact string on the wire; a binary frame (PCM16 audio) is
    ``"audio_bytes": N``, plus ``"audio": "<base64>"`` when audio is kept. ``client_out`` lines are
    the messages the relay queued for the browser, one per message (the writer may merge
    consecutive audio into larger frames); the session's last are the final ``error`` (if any)
    and ``"close": {"code": 1011}`` (not when the browser left first).
``{"t":..,"dir":"end","outcome":"ClientGone","dropped_lines":0}``
    the last line; ``dropped_lines`` counts lines lost because the disk did not keep up.

Audio is redacted unless ``RECORD_AUDIO=1``: every base64 audio field of an upstream event (an
``audio`` field anywhere, the ``delta`` of an audio delta event) becomes
``{"redacted_audio_bytes": N}``, N being the decoded length. Secrets never: no headers and no
handshake are recorded, and every string passes through :func:`trio_relay.redact.redact`
(fields named like credentials become ``[redacted]``), so a text carrying one is recorded
redacted (a replay of it differs there).

Cost: nothing when recording is off (the session holds ``None``: one ``if`` per frame). When on,
a frame costs a tuple appended to a list; parsing, redacting and writing happen in a worker
thread, in batches (:meth:`SessionRecorder.write_batches`), and the buffer is bounded by
``RECORD_BUFFER_BYTES``: past it, lines are dropped and counted, never waited for.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import trio

from .browser import ErrorMessage
from .config import Recording
from .errors import ClientGone, SessionEnd
from .redact import REDACTED, redact

if TYPE_CHECKING:
    from .websocket import Close

FORMAT_VERSION = 1
WRITE_INTERVAL_S = 0.2  # at most this many batches a second per session (after the first)

Direction = Literal["upstream_in", "upstream_out", "client_in", "client_out"]
# Field names whose values are never recorded, whatever they hold.
SECRET_FIELDS = frozenset({"api_key", "api-key", "authorization", "client_secret", "token"})


class _Close:
    """A close recorded on the upstream or browser side."""

    def __init__(self, code: int | None, reason: str) -> None:
        self.code, self.reason = code, reason


_Raw = tuple[float, str, "str | bytes | _Close | dict[str, Any]"]


class SessionRecorder:
    """One session's recording: frames in (cheap, on the event loop), lines out (a thread)."""

    def __init__(self, settings: Recording, session_id: str, started_at: float) -> None:
        assert settings.dir is not None
        self.path = os.path.join(settings.dir, f"{session_id}.jsonl")
        self.keep_audio = settings.keep_audio
        self.limit_bytes = settings.buffer_bytes
        self.started_at = started_at
        self.dropped_lines = 0
        self._buffered: list[_Raw] = []
        self._buffered_bytes = 0
        self._has_lines = trio.Event()
        audio = "kept" if self.keep_audio else "redacted"
        header = {"format": FORMAT_VERSION, "session_id": session_id, "audio": audio}
        self._buffered.append((0.0, "start", header))

    # --- per frame: no I/O, no parsing ----------------------------------------------------------

    def upstream_in(self, frame: str | bytes) -> None:
        self._add("upstream_in", frame)

    def upstream_out(self, texts: Iterable[str]) -> None:
        for text in texts:
            self._add("upstream_out", text)

    def upstream_closed(self, received: Close | None) -> None:
        """The upstream closed with ``received`` (None: the connection dropped without one)."""
        if received is None:
            self._add("upstream_in", _Close(None, ""))
        else:
            self._add("upstream_in", _Close(int(received.code), received.reason))

    def client_in(self, frame: str | bytes) -> None:
        self._add("client_in", frame)

    def client_out(self, data: str | bytes) -> None:
        self._add("client_out", data)

    def _add(self, direction: Direction, item: str | bytes | _Close) -> None:
        size = len(item) if isinstance(item, str | bytes) else 64
        if self._buffered_bytes + size > self.limit_bytes:
            self.dropped_lines += 1
            return
        self._buffered_bytes += size
        self._buffered.append((trio.current_time() - self.started_at, direction, item))
        self._has_lines.set()

    # --- writing ------------------------------------------------------------------------------

    async def write_batches(self) -> None:
        """The session's writer task (runs until cancelled): whatever is buffered when it wakes
        goes to the file in one thread call, at most every ``WRITE_INTERVAL_S``."""
        while True:
            await self._has_lines.wait()
            self._has_lines = trio.Event()
            await trio.to_thread.run_sync(self._write, self._take())
            await trio.sleep(WRITE_INTERVAL_S)

    async def close(self, end: SessionEnd, timeout_s: float) -> None:
        """Record how the browser's side ended, then write what is left (bounded by
        ``timeout_s``: a stuck disk loses the tail, never holds the session)."""
        if not isinstance(end, ClientGone):
            if end.error_code is not None:  # as the session's close path sends it
                upstream_code = getattr(end, "upstream_code", None)
                error = ErrorMessage(end.error_code, end.message, upstream_code=upstream_code)
                self.client_out(error.encode())
            self._add("client_out", _Close(int(end.close_code), ""))
        done = {"outcome": type(end).__name__, "dropped_lines": self.dropped_lines}
        self._buffered.append((trio.current_time() - self.started_at, "end", done))
        batch = self._take()
        with trio.CancelScope(shield=True), trio.move_on_after(timeout_s):
            await trio.to_thread.run_sync(self._write, batch, abandon_on_cancel=True)

    def _take(self) -> list[_Raw]:
        batch, self._buffered, self._buffered_bytes = self._buffered, [], 0
        return batch

    def _write(self, batch: list[_Raw]) -> None:
        """In a worker thread: format the batch and append it to the session's file."""
        text = "".join(
            encode_line(t, direction, item, keep_audio=self.keep_audio) + "\n"
            for t, direction, item in batch
        )
        try:
            with open(self.path, "a", encoding="utf-8") as file:
                file.write(text)
        except (OSError, ValueError):
            self.dropped_lines += len(batch)  # the next write (or the end line) says so


# --- formatting (pure) ---------------------------------------------------------------------------


def encode_line(
    t: float, direction: str, item: str | bytes | _Close | dict[str, Any], *, keep_audio: bool
) -> str:
    """One recorded line (without its newline)."""
    line: dict[str, Any] = {"t": round(t, 4), "dir": direction}
    if isinstance(item, dict):  # start / end
        line.update(item)
    elif isinstance(item, _Close):
        code = item.code
        if code is None:
            line["close"] = None
        elif direction == "client_out":  # its reason is the error's message, cut short
            line["close"] = {"code": code}
        else:
            line["close"] = {"code": code, "reason": redact(item.reason)}
    elif direction.startswith("upstream"):
        line.update(_upstream_fields(item, keep_audio))
    elif isinstance(item, bytes):
        line["audio_bytes"] = len(item)
        if keep_audio:
            line["audio"] = base64.b64encode(item).decode("ascii")
    else:
        line["text"] = redact(item)
    # ASCII: an upstream's lone surrogate ("\ud800") stays an escape, never a write error.
    return json.dumps(line, separators=(",", ":"))


def _upstream_fields(frame: str | bytes, keep_audio: bool) -> dict[str, Any]:
    if isinstance(frame, bytes):
        return {"binary_bytes": len(frame)}
    try:
        event = json.loads(frame)
    except ValueError:
        return {"text": redact(frame)}
    if not isinstance(event, dict):
        return {"text": redact(frame)}
    return {"event": clean_event(event, keep_audio=keep_audio)}


def clean_event(event: dict[str, Any], *, keep_audio: bool) -> dict[str, Any]:
    """An upstream event as recorded: secrets out, audio out unless kept."""
    kind = event.get("type")
    audio_delta = isinstance(kind, str) and kind.endswith("audio.delta")
    cleaned: dict[str, Any] = {}
    for key, value in event.items():
        if key == "delta" and audio_delta and isinstance(value, str):
            cleaned[key] = value if keep_audio else _audio_marker(value)
        else:
            cleaned.update(_clean({key: value}, keep_audio))
    return cleaned


def _clean(value: Any, keep_audio: bool) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_clean(v, keep_audio) for v in value]
    if not isinstance(value, dict):
        return value
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        if key.lower() in SECRET_FIELDS and item is not None:
            cleaned[key] = REDACTED
        elif key == "audio" and isinstance(item, str) and not keep_audio:
            cleaned[key] = _audio_marker(item)
        elif key == "audio" and isinstance(item, str):
            cleaned[key] = item  # base64 audio, kept: not worth redacting (nor readable)
        else:
            cleaned[key] = _clean(item, keep_audio)
    return cleaned


def _audio_marker(b64: str) -> dict[str, int]:
    return {"redacted_audio_bytes": decoded_length(b64)}


def decoded_length(b64: str) -> int:
    """The length of what a base64 text decodes to (without decoding it)."""
    return len(b64) * 3 // 4 - (2 if b64.endswith("==") else 1 if b64.endswith("=") else 0)


def open_recorder(
    settings: Recording, session_id: str, started_at: float
) -> SessionRecorder | None:
    """The session's recorder, or None when recording is off."""
    if settings.dir is None:
        return None
    return SessionRecorder(settings, session_id, started_at)
