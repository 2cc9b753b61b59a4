"""The fake Realtime session: client events in, server events out. Pure: no sockets, no tasks,
no clock; ids come from counters (``event_0001``, ``item_0001``, ``resp_0001``,
``call_0001``), so every run is the same.

The server hands each client frame to :meth:`Engine.receive_frame` and sends whatever
:meth:`Engine.next_output` gives, as fast as it can. Acknowledgements are queued at once; a
response is produced lazily, one event per call, so a client event that arrives while it is
being sent (``response.cancel``, audio in which the user barges in, another
``response.create``) meets it active, as it would on the real service. Tests drive the engine
synchronously with :meth:`Engine.receive` (one frame in, everything it causes out).

Orders and timings follow a seeded variant (:mod:`.timing`). Pacing needs a clock passed in
(``clock``: the shell's ``trio.current_time``): while a response waits, ``next_output`` says
None and :attr:`Engine.wake_at` says when to ask again. Without one, nothing waits.

Event shapes follow the ``openai`` package's typed models for the connection's dialect (GA:
``openai.types.realtime``, beta: ``openai.types.beta.realtime``); tests check every event.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from itertools import count
from typing import Any

from . import scripts
from .answers import Say, Tools, answer, output_items
from .bench import BenchTurns
from .conversation import Conversation, ConversationError
from .faults import (
    EXPIRED_CLOSE_CODE,
    FAILED_RESPONSES,
    FATAL_CLOSE_CODE,
    QUOTA_MESSAGE,
    SERVER_ERROR,
    SESSION_EXPIRED_MESSAGE,
    Fault,
)
from .input_audio import InputAudioBuffer, TurnStarted, TurnStopped
from .mcp import McpServers, list_tools
from .ordering import HeldEvents, rate_limits_event, transcription_events
from .output_items import OutputItem
from .protocol import NAMES, Close, DialectName, Drop, Event, Garbage, Output, Stall, error_event
from .responses import ResponseStream
from .session import SessionError, default_session, updated_session, view
from .timing import Timing, TimingOptions, Wait, Where, timing_for
from .validation import ClientEventError, validate_client_event

__all__ = ["Close", "DialectName", "Drop", "Engine", "Garbage", "Output", "Stall"]

DROP_AFTER_DELTAS = 2  # fault-drop-mid-response: deltas sent before the connection drops
MIN_COMMIT_MS = 100  # the real service refuses to commit less audio than this
_TERMINAL = (Close, Drop, Stall)
_NO_STATUS = {"mcp_approval_response", "mcp_approval_request", "mcp_call", "mcp_list_tools"}


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
        timing: Timing | TimingOptions | None = None,
        clock: Callable[[], float] | None = None,
        spoken_texts: Sequence[str] = (),
    ) -> None:
        self.dialect = dialect
        self.names = NAMES[dialect]
        self.fault = fault
        self.turn_trigger_bytes = turn_trigger_bytes  # benchmark mode when set
        self.reply_audio_ms = reply_audio_ms
        self.validate = validate
        self.timing = timing if isinstance(timing, Timing) else timing_for(model, timing)
        self.clock = clock
        self._counters: dict[str, Iterator[int]] = {}
        self.session = default_session(dialect, model, self._id("sess"))
        self._view = view(dialect, self.session)
        self.conversation = Conversation()
        self.input_audio = InputAudioBuffer(lambda: self._id("item"))
        if turn_trigger_bytes is None:
            self.input_audio.configure(self._view.turn_detection)
        self._outbox: deque[Output] = deque()
        self._active: ResponseStream | None = None
        self._configured = False  # session.updated has been queued
        self._ended = False  # a Close, Drop or Stall is queued: client frames are ignored
        self._finished = False  # ... and has been handed out: nothing more comes
        self._responses = 0  # responses started
        self._creates = 0  # response.create events received
        self._garbage_sent = False
        self._expired = False
        self._held = HeldEvents()  # rate limits and input transcriptions, placed by the timing
        self._bench = BenchTurns(turn_trigger_bytes) if turn_trigger_bytes is not None else None
        self._spoken = deque(spoken_texts)  # what the user says in the next spoken turns
        self._heard: dict[str, str] = {}  # spoken user item id -> what it said
        self.mcp = McpServers()

    # --- the interface the server and tests use ------------------------------------------------

    @property
    def response_active(self) -> bool:
        return self._active is not None

    @property
    def backlog(self) -> int:
        """Outputs queued (a response being produced lazily is not counted)."""
        return len(self._outbox)

    @property
    def items(self) -> dict[str, dict[str, Any]]:
        return self.conversation.items

    @property
    def item_audio(self) -> dict[str, bytes]:
        return self.conversation.item_audio

    def open(self) -> list[Output]:
        """What the server says on connect: ``session.created``."""
        self._emit("session.created", session=copy.deepcopy(self.session))
        return self.drain()

    def receive(self, frame: str | bytes) -> list[Output]:
        """Take one client frame; return everything it causes (responses included, whole)."""
        self.receive_frame(frame)
        return self.drain()

    def binary_frame(self) -> list[Output]:
        return self.receive(b"")

    def drain(self) -> list[Output]:
        outputs: list[Output] = []
        while (output := self.next_output()) is not None:
            outputs.append(output)
        return outputs

    @property
    def wake_at(self) -> float | None:
        """When (on the clock passed in) the active response has more to say without a client
        frame; None: nothing until the next one (or there is more at once)."""
        return self._active.wake_at if self._active is not None and not self._outbox else None

    def next_output(self) -> Output | None:
        """The next thing to send; None when there is nothing until the next client frame (or,
        with a clock, until :attr:`wake_at`)."""
        stream = None
        output: Output | None = None
        if self._finished:
            return None
        if self._outbox:
            output = self._outbox.popleft()
        elif self._active is not None:
            if self._active.paused:
                return None  # fault-stall-mid-response: silent until cancelled
            stream = self._active
            pulled = stream.next_event(self.clock() if self.clock is not None else None)
            if isinstance(pulled, Wait):
                return None  # the response waits: until wake_at
            output = pulled
        if output is None:
            self._active = None
            return None
        if isinstance(output, dict):
            output = {"type": output["type"], "event_id": self._id("event"), **output}
            if stream is not None and output["type"].endswith(".delta"):
                self._queue(*self._held.delta_sent())  # the outbox goes first
            if output["type"] == "response.done":
                if stream is not None:
                    self._active = None
                    status = output["response"]["status"]
                    self._settle(stream, "completed" if status == "completed" else "incomplete")
                self._after_response(output)
        elif isinstance(output, _TERMINAL):
            self._finished = self._ended = True
        return output

    def receive_frame(self, frame: str | bytes) -> None:
        """Take one client frame; what it causes waits in :meth:`next_output`."""
        if self._ended:
            return
        if isinstance(frame, bytes):
            self._error("Binary frames are not supported; send JSON text events.", "invalid_value")
            return
        try:
            event = json.loads(frame)
        except ValueError:
            self._error(
                "The server could not parse the event: it is not valid JSON.", "invalid_json"
            )
            return
        if not isinstance(event, dict):
            self._error("An event must be a JSON object.", "invalid_value")
        elif self.fault is Fault.STALL or (
            self.fault is Fault.STALL_AFTER_CONNECT and self._configured
        ):
            self._queue(Stall())
        elif self.fault is Fault.GARBAGE and self._configured and not self._garbage_sent:
            self._garbage_sent = True
            self._queue(Garbage())
        else:
            self._receive_event(event)

    # --- plumbing -----------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        counter = self._counters.setdefault(prefix, count(1))
        return f"{prefix}_{next(counter):04d}"

    def _queue(self, *outputs: Output) -> None:
        self._outbox.extend(outputs)
        if any(isinstance(output, _TERMINAL) for output in outputs):
            self._ended = True

    def _emit(self, kind: str, **fields: Any) -> None:
        self._queue({"type": kind, **fields})

    def _error(self, message: str, code: str | None, **details: Any) -> None:
        self._queue(error_event(message, code, **details))

    def _receive_event(self, event: Event) -> None:
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        if self._bench is not None and event.get("type") == "input_audio_buffer.append":
            self._bench_append(event, event_id)  # benchmark mode: a cheap type check only
            return
        try:
            if self.validate:
                validate_client_event(self.dialect, event)
            self._dispatch(event, event_id)
        except (ClientEventError, ConversationError, SessionError) as exc:
            self._error(exc.message, exc.code, param=exc.param, event_id=event_id)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if self.validate:
                raise  # a validated event the engine cannot handle: a bug in the fake
            self._error(f"Invalid event: {exc!r}.", "invalid_value", event_id=event_id)

    def _dispatch(self, event: Event, event_id: str | None) -> None:
        conversation = self.conversation
        match event["type"]:
            case "session.update":
                self._session_update(event)
            case "conversation.item.create":
                self._item_create(event)
            case "conversation.item.truncate":
                self._item_truncate(event)
            case "conversation.item.retrieve":
                self._emit("conversation.item.retrieved", item=conversation.get(event["item_id"]))
            case "conversation.item.delete":
                conversation.delete(event["item_id"])
                self._emit("conversation.item.deleted", item_id=event["item_id"])
            case "input_audio_buffer.append":
                self._append(event)
            case "input_audio_buffer.commit":
                self._commit_manually()
            case "input_audio_buffer.clear":
                self.input_audio.clear()
                self._emit("input_audio_buffer.cleared")
            case "response.create":
                self._response_create(event, event_id)
            case "response.cancel":
                self._response_cancel()
            case kind:
                raise ClientEventError(
                    f"The fake upstream does not support '{kind}' on a WebSocket session.",
                    "invalid_value",
                    "type",
                )

    # --- session and conversation -------------------------------------------------------------

    def _session_update(self, event: Event) -> None:
        self.session = updated_session(self.dialect, self.session, event.get("session") or {})
        self._view = view(self.dialect, self.session)
        if self.turn_trigger_bytes is None:
            self.input_audio.configure(self._view.turn_detection)
        self._emit("session.updated", session=copy.deepcopy(self.session))
        self._configured = True
        for server in self.mcp.update(self.session.get("tools") or []):  # added or changed
            self._queue(*list_tools(server, self._id("item"), self.conversation))

    def _add_item(
        self, item: dict[str, Any], audio: bytes | None = None, done: bool = True
    ) -> None:
        previous = self.conversation.add(item, audio)
        self._emit(self.names.item_added, previous_item_id=previous, item=copy.deepcopy(item))
        if done:
            self._item_done(item)

    def _item_done(self, item: dict[str, Any]) -> None:
        if self.names.item_done is not None:
            self._emit(self.names.item_done, item=copy.deepcopy(item))

    def _item_create(self, event: Event) -> None:
        item = copy.deepcopy(event["item"])
        self.conversation.check_answer(item, self._active.given() if self._active else [])
        item["id"] = item.get("id") or self._id("item")
        if item.get("type") not in _NO_STATUS:  # MCP items have neither field
            item.update(object="realtime.item", status="completed")
        self._add_item(item)

    def _item_truncate(self, event: Event) -> None:
        item_id, index, end_ms = event["item_id"], event["content_index"], event["audio_end_ms"]
        active, streaming_ms = self._active, None
        if active is not None and active.item_id == item_id and active.audio is not None:
            streaming_ms = active.audio_bytes_sent // scripts.BYTES_PER_MS
        self.conversation.truncate(item_id, index, end_ms, streaming_ms)
        self._emit(
            "conversation.item.truncated", item_id=item_id, content_index=index, audio_end_ms=end_ms
        )

    # --- input audio --------------------------------------------------------------------------

    def _append(self, event: Event) -> None:
        try:
            pcm = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, ValueError):
            message = "Invalid 'audio'. Expected base64-encoded PCM16 audio."
            raise ClientEventError(message, "invalid_value", "audio") from None
        for turn in self.input_audio.append(pcm):
            if isinstance(turn, TurnStarted):
                self._emit(
                    "input_audio_buffer.speech_started",
                    audio_start_ms=turn.audio_start_ms,
                    item_id=turn.item_id,
                )
                if self._active is not None and self._view.detection("interrupt_response"):
                    self._cancel("turn_detected")
            else:
                self._turn_stopped(turn)

    def _turn_stopped(self, turn: TurnStopped) -> None:
        self._emit(
            "input_audio_buffer.speech_stopped",
            audio_end_ms=turn.audio_end_ms,
            item_id=turn.item_id,
        )
        self._commit(turn.item_id, turn.audio)
        # With interrupt_response false, a response still in progress is left alone.
        if self._view.detection("create_response") and self._active is None:
            self._answer(self._view.audio_out)

    def _commit_manually(self) -> None:
        buffered_ms = len(self.input_audio) / scripts.BYTES_PER_MS
        if buffered_ms < MIN_COMMIT_MS:
            raise ConversationError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered_ms:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
            )
        self._commit(*self.input_audio.commit())

    def _commit(self, item_id: str, audio: bytes) -> None:
        previous = self.conversation.last_item_id
        self._emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        content: dict[str, Any] = {"type": "input_audio", "transcript": None}
        item: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "message"}
        item.update(role="user", status="completed", content=[content])
        self._add_item(item, audio, done=False)
        said = self._spoken.popleft() if self._spoken else None
        if said is not None:
            self._heard[item_id] = said
        if self._view.transcription is None:
            self._item_done(item)
            return
        plan = self.timing.turn()
        transcript, events = transcription_events(item_id, len(audio), plan.fails, said)
        late = plan.transcription is not Where.BEFORE_RESPONSE
        if late:  # transcribed alongside the response: the item is done before its transcript
            self._item_done(item)
        content["transcript"] = transcript
        active = self._active.response_id if self._active is not None else None
        self._queue(*self._held.hold(plan.transcription, plan.after_deltas, events, active))
        if not late:
            self._item_done(item)

    # --- responses ----------------------------------------------------------------------------

    def _response_create(self, event: Event, event_id: str | None) -> None:
        self._creates += 1
        first = self._creates == 1
        if first and self.fault is Fault.ERROR_RECOVERABLE:
            message = "Invalid value for 'response.temperature': expected a number >= 0.6."
            raise ConversationError(message, "invalid_value", "response.temperature")
        if first and self.fault is Fault.ERROR_FATAL:
            kind = "insufficient_quota"
            self._error(QUOTA_MESSAGE, kind, kind=kind, event_id=event_id)
            self._queue(Close(FATAL_CLOSE_CODE, "insufficient_quota"))
            return
        if self._active is not None:
            raise ConversationError(
                "Conversation already has an active response in progress: "
                f"{self._active.response_id}. Wait until the response is finished before "
                "creating a new one.",
                "conversation_already_has_active_response",
            )
        response = event.get("response") or {}
        modalities = response.get(self.names.modalities)
        audio_out = "audio" in modalities if isinstance(modalities, list) else self._view.audio_out
        self._answer(audio_out, response)

    def _answer(self, audio_out: bool, response: Event | None = None) -> None:
        """Start the response that is due (:mod:`.answers`): a spoken turn's is its own audio,
        byte for byte, with a transcript saying so."""
        tools = Tools.of(self.session, response or {}, self.mcp)
        chosen = answer(self.conversation, self._heard, tools)
        leading, said = output_items(self.dialect, chosen, self._id)
        self._start(said, audio_out, leading)

    def _start(self, said: Say | None, audio_out: bool, leading: Sequence[OutputItem]) -> None:
        self._responses += 1
        first = self._responses == 1
        if self.fault is Fault.NO_RESPONSE and first:
            return  # never answered: no response.created, nothing active
        drop = self.fault is Fault.DROP_MID_RESPONSE and first
        fault = self.fault
        failing = fault is not None and self._responses <= FAILED_RESPONSES.get(fault, 0)
        pcm = said.pcm(audio_out) if said is not None else None
        plan = self.timing.response(len(pcm) if pcm is not None else None)
        audio = None
        if pcm is not None:
            pieces = scripts.chunks_of(pcm, plan.chunk_bytes)
            audio = [(base64.b64encode(c).decode(), len(c)) for c in pieces]
        for lead in leading:  # each item's previous is the one before it
            lead.previous_item_id = self.conversation.reserve(lead.item_id)
        item_id = self._id("item") if said is not None else None
        stream = ResponseStream(
            self.dialect,
            response_id=self._id("resp"),
            item_id=item_id,
            previous_item_id=self.conversation.reserve(item_id) if item_id is not None else None,
            text=said.text if said is not None else None,
            audio=audio,
            leading=leading,
            voice=self._view.voice,
            drop_after=DROP_AFTER_DELTAS if drop else None,
            cut_after=DROP_AFTER_DELTAS if first and fault is Fault.RESPONSE_INCOMPLETE else None,
            pause_after=DROP_AFTER_DELTAS if first and fault is Fault.STALL_MID_RESPONSE else None,
            fail_with=SERVER_ERROR if failing else None,
            first_delta_delay_s=plan.first_delta_delay_s,
            audio_delays_s=plan.audio_delays_s,
        )
        rate_limits = rate_limits_event(self._responses)
        before, after = self._held.response_started(
            stream.response_id, failing, rate_limits, plan.rate_limits
        )
        self._queue(*before, stream.created(), *after)
        self._active = stream

    def _response_cancel(self) -> None:
        if self._active is None:
            message = "Cancellation failed: no active response found"
            raise ConversationError(message, "response_cancel_not_active")
        self._cancel("client_cancelled")

    def _cancel(self, reason: str) -> None:
        assert self._active is not None
        stream, self._active = self._active, None
        self._queue(*stream.cancel(reason))
        self._settle(stream, "incomplete")

    def _settle(self, stream: ResponseStream, status: str) -> None:
        audio_bytes = stream.audio_bytes_sent if stream.audio is not None else None
        self.conversation.settle(stream.outputs(status), audio_bytes)

    def _after_response(self, done: Event) -> None:
        """Right after ``response.done``: the rate limits, the input transcriptions held for
        after it (or for mid-response, if it ended before), and the expiry fault."""
        follow: list[Output] = []
        follow += self._held.response_done(done["response"]["id"])
        status = done["response"]["status"]
        if self.fault is Fault.SESSION_EXPIRED and status == "completed" and not self._expired:
            self._expired = self._ended = True
            follow.append(error_event(SESSION_EXPIRED_MESSAGE, "session_expired"))
            follow.append(Close(EXPIRED_CLOSE_CODE, "session expired"))
        self._outbox.extendleft(reversed(follow))

    # --- benchmark mode -----------------------------------------------------------------------

    def _bench_append(self, event: Event, event_id: str | None) -> None:
        assert self._bench is not None
        audio = event.get("audio")
        if not isinstance(audio, str):
            message = "Missing required parameter: 'audio'."
            self._error(message, "missing_required_parameter", param="audio", event_id=event_id)
            return
        answer = self._bench.answer(
            audio, self.dialect, self.conversation, self._id, self._view.voice, self.reply_audio_ms
        )
        self._queue(*answer)
