"""The fake Realtime session: client events in, server events out. Pure: no sockets, no clock.

Event shapes follow the ``openai`` package's typed models for the connection's dialect (GA:
``openai.types.realtime``; beta: ``openai.types.beta.realtime``); a test validates every event
this engine emits against them. Ids come from counters, so a run is reproducible.
Responses are emitted whole (the fake never paces), so a response is never in progress between
two client events unless a fault says so.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from itertools import count
from typing import Any, Literal

import attrs

from . import scripts
from .faults import Fault
from .vad import BYTES_PER_MS, EnergyVad, SpeechStarted, SpeechStopped
from .validation import ClientEventError, validate_client_event

DialectName = Literal["ga", "beta"]


@attrs.frozen
class Close:
    """Close the WebSocket with this code (after the events before it)."""

    code: int
    reason: str = ""


@attrs.frozen
class Drop:
    """Drop the TCP connection without a close frame."""


@attrs.frozen
class Garbage:
    """Send a text frame that is not JSON."""

    text: str = "<html>502 Bad Gateway</html>"


@attrs.frozen
class Stall:
    """Stop reading and answering, until the peer goes away."""


Directive = Close | Drop | Garbage | Stall
Output = dict[str, Any] | Directive


@attrs.frozen
class Names:
    item_created: tuple[str, ...]
    item_done: tuple[str, ...]
    text_delta: str
    text_done: str
    audio_delta: str
    audio_done: str
    transcript_delta: str
    transcript_done: str
    text_part: str
    audio_part: str


NAMES: dict[DialectName, Names] = {
    "ga": Names(
        item_created=("conversation.item.added",),
        item_done=("conversation.item.done",),
        text_delta="response.output_text.delta",
        text_done="response.output_text.done",
        audio_delta="response.output_audio.delta",
        audio_done="response.output_audio.done",
        transcript_delta="response.output_audio_transcript.delta",
        transcript_done="response.output_audio_transcript.done",
        text_part="output_text",
        audio_part="output_audio",
    ),
    "beta": Names(
        item_created=("conversation.item.created",),
        item_done=(),
        text_delta="response.text.delta",
        text_done="response.text.done",
        audio_delta="response.audio.delta",
        audio_done="response.audio.done",
        transcript_delta="response.audio_transcript.delta",
        transcript_done="response.audio_transcript.done",
        text_part="text",
        audio_part="audio",
    ),
}

DEFAULT_TURN_DETECTION: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "create_response": True,
    "interrupt_response": True,
}


def default_session(dialect: DialectName, model: str, session_id: str) -> dict[str, Any]:
    if dialect == "ga":
        audio_format = {"type": "audio/pcm", "rate": 24000}
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": session_id,
            "model": model,
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "prompt": None,
            "expires_at": 0,
            "audio": {
                "input": {
                    "format": audio_format,
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": dict(DEFAULT_TURN_DETECTION),
                },
                "output": {"format": audio_format, "voice": "alloy", "speed": 1.0},
            },
        }
    return {
        "id": session_id,
        "object": "realtime.session",
        "model": model,
        "modalities": ["text", "audio"],
        "instructions": "",
        "voice": "alloy",
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": None,
        "turn_detection": dict(DEFAULT_TURN_DETECTION),
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
    }


def merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


class Engine:
    def __init__(
        self,
        dialect: DialectName,
        model: str,
        *,
        fault: Fault | None = None,
        turn_trigger_bytes: int | None = None,
        reply_audio_ms: int = 1000,
        validate: bool = True,
    ) -> None:
        self.dialect = dialect
        self.names = NAMES[dialect]
        self.fault = fault
        self.turn_trigger_bytes = turn_trigger_bytes
        self.validate = validate
        self._ids: dict[str, Iterator[int]] = {}
        self.session = default_session(dialect, model, self._id("sess"))
        self.items: dict[str, dict[str, Any]] = {}
        self._audio_lengths: dict[str, int] = {}  # assistant item id -> audio bytes
        self._last_item_id: str | None = None
        self._buffer = bytearray()  # input audio not yet committed
        self._buffer_start_ms = 0  # audio time of _buffer[0]
        self._speech_start_ms: int | None = None
        self._speech_item_id: str | None = None
        self._vad = self._make_vad()
        self._configured = False
        self._responses = 0  # responses produced
        self._creates = 0  # response.create events received
        self._bench_reply = scripts.split_in(bytes(reply_audio_ms * BYTES_PER_MS), 10)
        self._bench_reply_b64 = [base64.b64encode(c).decode() for c in self._bench_reply]

    # --- ids and plumbing ---------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        counter = self._ids.setdefault(prefix, count(1))
        return f"{prefix}_{next(counter):04d}"

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "event_id": self._id("event"), **fields}

    def _error(
        self,
        message: str,
        code: str,
        *,
        param: str | None = None,
        event_id: str | None = None,
        kind: str = "invalid_request_error",
    ) -> dict[str, Any]:
        return self._event(
            "error",
            error={
                "type": kind,
                "code": code,
                "message": message,
                "param": param,
                "event_id": event_id,
            },
        )

    def _make_vad(self) -> EnergyVad | None:
        detection = self._turn_detection()
        if not detection or detection.get("type") != "server_vad" or self.turn_trigger_bytes:
            return None
        return EnergyVad(
            float(detection.get("threshold", 0.5)),
            int(detection.get("prefix_padding_ms", 300)),
            int(detection.get("silence_duration_ms", 500)),
        )

    def _turn_detection(self) -> dict[str, Any] | None:
        if self.dialect == "ga":
            value = self.session["audio"]["input"].get("turn_detection")
        else:
            value = self.session.get("turn_detection")
        return value if isinstance(value, dict) else None

    def _transcription(self) -> dict[str, Any] | None:
        if self.dialect == "ga":
            value = self.session["audio"]["input"].get("transcription")
        else:
            value = self.session.get("input_audio_transcription")
        return value if isinstance(value, dict) else None

    def _audio_out(self) -> bool:
        modalities = self.session.get(
            "output_modalities" if self.dialect == "ga" else "modalities", []
        )
        return "audio" in modalities

    # --- input --------------------------------------------------------------------------------

    def open(self) -> list[Output]:
        return [self._event("session.created", session=self.session)]

    def binary_frame(self) -> list[Output]:
        return [self._error("Binary frames are not supported; send JSON events.", "invalid_value")]

    def receive(self, frame: str) -> list[Output]:
        try:
            event = json.loads(frame)
        except ValueError:
            return [
                self._error("The server could not parse the event: not valid JSON.", "invalid_json")
            ]
        if not isinstance(event, dict):
            return [self._error("Events must be JSON objects.", "invalid_event")]
        if self.fault is Fault.GARBAGE and self._configured:
            return [Garbage()]
        if self.fault is Fault.STALL_AFTER_CONNECT and self._configured:
            return [Stall()]
        kind = event.get("type")
        if kind == "input_audio_buffer.append" and self.turn_trigger_bytes:
            return self._bench_append(event)  # cheap path: no model validation
        if self.validate:
            try:
                validate_client_event(self.dialect, event)
            except ClientEventError as exc:
                return [
                    self._error(exc.message, exc.code, param=exc.param, event_id=_event_id(event))
                ]
        handler = getattr(self, "_on_" + str(kind).replace(".", "_"), None)
        if handler is None:
            return [
                self._error(
                    f"Unsupported event type '{kind}'.",
                    "invalid_value",
                    param="type",
                    event_id=_event_id(event),
                )
            ]
        result: list[Output] = handler(event)
        return result

    def _on_session_update(self, event: dict[str, Any]) -> list[Output]:
        update = dict(event.get("session") or {})
        if self.dialect == "ga" and update.get("type") not in (None, "realtime"):
            return [
                self._error(
                    "Only realtime sessions are supported here.",
                    "invalid_value",
                    param="session.type",
                    event_id=_event_id(event),
                )
            ]
        merge(self.session, update)
        self._vad = self._make_vad()
        outputs: list[Output] = [self._event("session.updated", session=self.session)]
        if self.fault is Fault.STALL:
            return [Stall()]
        self._configured = True
        return outputs

    def _on_conversation_item_create(self, event: dict[str, Any]) -> list[Output]:
        item = dict(event["item"])
        item.setdefault("id", self._id("item"))
        item.setdefault("object", "realtime.item")
        item["status"] = "completed"
        return self._add_item(item)

    def _add_item(self, item: dict[str, Any]) -> list[Output]:
        self.items[item["id"]] = item
        previous, self._last_item_id = self._last_item_id, item["id"]
        outputs: list[Output] = [
            self._event(name, previous_item_id=previous, item=item)
            for name in self.names.item_created
        ]
        outputs += [self._event(name, item=item) for name in self.names.item_done]
        return outputs

    def _on_response_create(self, event: dict[str, Any]) -> list[Output]:
        self._creates += 1
        if self._creates == 1 and self.fault is Fault.ERROR_RECOVERABLE:
            return [
                self._error(
                    "Invalid value for 'response.temperature'.",
                    "invalid_value",
                    param="response.temperature",
                    event_id=_event_id(event),
                )
            ]
        if self._creates == 1 and self.fault is Fault.ERROR_FATAL:
            return [
                self._error(
                    "You exceeded your current quota, please check your plan and billing details.",
                    "insufficient_quota",
                    kind="insufficient_quota",
                    event_id=_event_id(event),
                ),
                Close(1011, "insufficient_quota"),
            ]
        last_user = next(
            (i for i in reversed(self.items.values()) if i.get("role") == "user"), None
        )
        text = ""
        for part in (last_user or {}).get("content", []):
            if part.get("type") == "input_text":
                text = part.get("text", "")
        reply = scripts.text_reply(text)
        audio = scripts.spoken(reply) if self._audio_out() else None
        return self._response(reply, audio)

    def _on_response_cancel(self, event: dict[str, Any]) -> list[Output]:
        return [
            self._error(
                "Cancellation failed: no active response found.",
                "response_cancel_not_active",
                event_id=_event_id(event),
            )
        ]

    def _on_input_audio_buffer_append(self, event: dict[str, Any]) -> list[Output]:
        try:
            pcm = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, ValueError):
            return [
                self._error(
                    "Invalid 'audio': not valid base64.",
                    "invalid_value",
                    param="audio",
                    event_id=_event_id(event),
                )
            ]
        self._buffer += pcm
        outputs: list[Output] = []
        if self._vad is None:
            return outputs
        for vad_event in self._vad.feed(pcm):
            if isinstance(vad_event, SpeechStarted):
                self._speech_start_ms = vad_event.audio_start_ms
                self._speech_item_id = self._id("item")
                outputs.append(
                    self._event(
                        "input_audio_buffer.speech_started",
                        audio_start_ms=vad_event.audio_start_ms,
                        item_id=self._speech_item_id,
                    )
                )
            elif isinstance(vad_event, SpeechStopped):
                outputs += self._speech_stopped(vad_event.audio_end_ms)
        return outputs

    def _speech_stopped(self, end_ms: int) -> list[Output]:
        assert self._speech_start_ms is not None and self._speech_item_id is not None
        item_id = self._speech_item_id
        outputs: list[Output] = [
            self._event("input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=item_id)
        ]
        start = max(0, (self._speech_start_ms - self._buffer_start_ms) * BYTES_PER_MS)
        end = (end_ms - self._buffer_start_ms) * BYTES_PER_MS
        audio = bytes(self._buffer[start:end])
        del self._buffer[:end]
        self._buffer_start_ms = end_ms
        outputs += self._commit(item_id, audio)
        detection = self._turn_detection() or {}
        if detection.get("create_response", True):
            seconds = len(audio) / BYTES_PER_MS / 1000
            transcript = scripts.audio_reply_transcript(seconds)
            outputs += self._response(transcript, audio if self._audio_out() else None)
        return outputs

    def _on_input_audio_buffer_commit(self, event: dict[str, Any]) -> list[Output]:
        if not self._buffer:
            return [
                self._error(
                    "Error committing input audio buffer: buffer too small. Expected at least "
                    "100ms of audio, but buffer only has 0.00ms of audio.",
                    "input_audio_buffer_commit_empty",
                    event_id=_event_id(event),
                )
            ]
        audio = bytes(self._buffer)
        self._buffer_start_ms += len(self._buffer) // BYTES_PER_MS
        self._buffer.clear()
        return self._commit(self._id("item"), audio)

    def _on_input_audio_buffer_clear(self, event: dict[str, Any]) -> list[Output]:
        self._buffer_start_ms += len(self._buffer) // BYTES_PER_MS
        self._buffer.clear()
        return [self._event("input_audio_buffer.cleared")]

    def _on_conversation_item_truncate(self, event: dict[str, Any]) -> list[Output]:
        item_id = event["item_id"]
        if item_id not in self._audio_lengths:
            return [
                self._error(
                    f"Item with item_id '{item_id}' not found.",
                    "item_not_found",
                    param="item_id",
                    event_id=_event_id(event),
                )
            ]
        length_ms = self._audio_lengths[item_id] // BYTES_PER_MS
        if event["audio_end_ms"] > length_ms:
            return [
                self._error(
                    f"Audio content of {length_ms}ms is already shorter than "
                    f"{event['audio_end_ms']}ms",
                    "invalid_value",
                    param="audio_end_ms",
                    event_id=_event_id(event),
                )
            ]
        self._audio_lengths[item_id] = event["audio_end_ms"] * BYTES_PER_MS
        return [
            self._event(
                "conversation.item.truncated",
                item_id=item_id,
                content_index=event["content_index"],
                audio_end_ms=event["audio_end_ms"],
            )
        ]

    def _commit(self, item_id: str, audio: bytes) -> list[Output]:
        previous = self._last_item_id
        outputs: list[Output] = [
            self._event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        ]
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        outputs += self._add_item(item)
        if self._transcription() is not None:
            seconds = len(audio) / BYTES_PER_MS / 1000
            transcript = scripts.input_transcript(seconds)
            item["content"][0]["transcript"] = transcript
            outputs.append(
                self._event(
                    "conversation.item.input_audio_transcription.delta",
                    item_id=item_id,
                    content_index=0,
                    delta=transcript,
                )
            )
            outputs.append(
                self._event(
                    "conversation.item.input_audio_transcription.completed",
                    item_id=item_id,
                    content_index=0,
                    transcript=transcript,
                    usage={"type": "duration", "seconds": round(seconds, 3)},
                )
            )
        return outputs

    # --- responses ----------------------------------------------------------------------------

    def _response_object(self, response_id: str, status: str, output: list[Any]) -> dict[str, Any]:
        modality = "audio" if self._audio_out() else "text"
        response: dict[str, Any] = {
            "id": response_id,
            "object": "realtime.response",
            "status": status,
            "status_details": None,
            "output": output,
            "usage": None,
            "metadata": None,
        }
        if self.dialect == "ga":
            response["conversation_id"] = "conv_0001"
            response["output_modalities"] = [modality]
            response["max_output_tokens"] = "inf"
        else:
            response["modalities"] = ["text", "audio"] if modality == "audio" else ["text"]
        return response

    def _response(self, text: str, audio: bytes | None) -> list[Output]:
        """A complete response: ``text`` as text, or as the transcript of ``audio``."""
        n = self.names
        self._responses += 1
        response_id = self._id("resp")
        item_id = self._id("item")
        part_type = n.audio_part if audio is not None else n.text_part
        where = {
            "response_id": response_id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
        }
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        outputs: list[Output] = [
            self._event(
                "response.created", response=self._response_object(response_id, "in_progress", [])
            ),
            self._event(
                "response.output_item.added", response_id=response_id, output_index=0, item=item
            ),
        ]
        previous, self._last_item_id = self._last_item_id, item_id
        outputs += [
            self._event(name, previous_item_id=previous, item=item) for name in n.item_created
        ]
        part_kind = "audio" if audio is not None else "text"
        empty_part = (
            {"type": part_kind, "transcript": ""}
            if audio is not None
            else {"type": part_kind, "text": ""}
        )
        outputs.append(self._event("response.content_part.added", part=empty_part, **where))
        fault_drop = self.fault is Fault.DROP_MID_RESPONSE and self._responses <= 1
        if audio is not None:
            for i, piece in enumerate(scripts.words(text)):
                outputs.append(self._event(n.transcript_delta, delta=piece, **where))
                if fault_drop and i == 1:
                    return [*outputs, Drop()]
            for chunk in scripts.chunks(audio):
                outputs.append(
                    self._event(n.audio_delta, delta=base64.b64encode(chunk).decode(), **where)
                )
            outputs.append(self._event(n.audio_done, **where))
            outputs.append(self._event(n.transcript_done, transcript=text, **where))
            final_part = {"type": part_kind, "transcript": text}
            self._audio_lengths[item_id] = len(audio)
        else:
            for i, piece in enumerate(scripts.words(text)):
                outputs.append(self._event(n.text_delta, delta=piece, **where))
                if fault_drop and i == 1:
                    return [*outputs, Drop()]
            outputs.append(self._event(n.text_done, text=text, **where))
            final_part = {"type": part_kind, "text": text}
        outputs.append(self._event("response.content_part.done", part=final_part, **where))
        item = {
            **item,
            "status": "completed",
            "content": [
                {"type": part_type, "transcript": text}
                if audio is not None
                else {"type": part_type, "text": text}
            ],
        }
        self.items[item_id] = item
        outputs.append(
            self._event(
                "response.output_item.done", response_id=response_id, output_index=0, item=item
            )
        )
        outputs += [self._event(name, item=item) for name in n.item_done]
        done = self._response_object(response_id, "completed", [item])
        audio_tokens = 0 if audio is None else len(audio) // (BYTES_PER_MS * 50)
        text_tokens = len(text.split())
        done["usage"] = {
            "total_tokens": 20 + text_tokens + audio_tokens,
            "input_tokens": 20,
            "output_tokens": text_tokens + audio_tokens,
            "input_token_details": {"text_tokens": 20, "audio_tokens": 0, "cached_tokens": 0},
            "output_token_details": {"text_tokens": text_tokens, "audio_tokens": audio_tokens},
        }
        outputs.append(self._event("response.done", response=done))
        outputs.append(
            self._event(
                "rate_limits.updated",
                rate_limits=[
                    {
                        "name": "requests",
                        "limit": 1000,
                        "remaining": 1000 - self._responses,
                        "reset_seconds": 60.0,
                    },
                    {
                        "name": "tokens",
                        "limit": 100000,
                        "remaining": 100000 - 20 * self._responses,
                        "reset_seconds": 1.0,
                    },
                ],
            )
        )
        if self.fault is Fault.SESSION_EXPIRED:
            outputs.append(
                self._error(
                    "Your session hit the maximum duration of 60 minutes.", "session_expired"
                )
            )
            outputs.append(Close(1001, "session expired"))
        return outputs

    # --- benchmark mode -----------------------------------------------------------------------

    def _bench_append(self, event: dict[str, Any]) -> list[Output]:
        """Every ``turn_trigger_bytes`` of audio is one turn with a fixed, precomputed answer."""
        audio = event.get("audio")
        if not isinstance(audio, str):
            return [
                self._error(
                    "Missing required parameter: 'audio'.",
                    "missing_required_parameter",
                    param="audio",
                    event_id=_event_id(event),
                )
            ]
        assert self.turn_trigger_bytes is not None
        self._buffer_start_ms += (len(audio) * 3 // 4) // BYTES_PER_MS  # decoded size, cheaply
        if self._buffer_start_ms * BYTES_PER_MS < self.turn_trigger_bytes:
            return []
        self._buffer_start_ms = 0
        return self._bench_turn()

    def _bench_turn(self) -> list[Output]:
        n = self.names
        item_id, response_id, reply_id = self._id("item"), self._id("resp"), self._id("item")
        outputs: list[Output] = [
            self._event("input_audio_buffer.speech_started", audio_start_ms=0, item_id=item_id),
            self._event("input_audio_buffer.speech_stopped", audio_end_ms=1000, item_id=item_id),
            self._event("input_audio_buffer.committed", previous_item_id=None, item_id=item_id),
            self._event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item_id,
                content_index=0,
                transcript="[bench turn]",
                usage={"type": "duration", "seconds": 1.0},
            ),
            self._event(
                "response.created", response=self._response_object(response_id, "in_progress", [])
            ),
        ]
        where = {
            "response_id": response_id,
            "item_id": reply_id,
            "output_index": 0,
            "content_index": 0,
        }
        for chunk_b64 in self._bench_reply_b64:
            outputs.append(self._event(n.audio_delta, delta=chunk_b64, **where))
        for piece in ("This ", "is ", "a ", "bench ", "reply."):
            outputs.append(self._event(n.transcript_delta, delta=piece, **where))
        outputs.append(self._event(n.transcript_done, transcript="This is a bench reply.", **where))
        outputs.append(
            self._event(
                "response.done", response=self._response_object(response_id, "completed", [])
            )
        )
        return outputs


def _event_id(event: dict[str, Any]) -> str | None:
    value = event.get("event_id")
    return value if isinstance(value, str) else None
