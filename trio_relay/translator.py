"""The session state machine: browser messages -> upstream events, upstream events -> browser
messages. Pure: no I/O, no clock, no tasks here; the session's tasks only move bytes and call it
(with ``now``, the session's clock, where time matters).

State it keeps, and why:
- the response state (:mod:`trio_relay.responses`: one response at a time, its deadline, what
  the browser hears of a response that failed, retries, the responses budget);
- the per-minute budgets of typed turns (:mod:`trio_relay.budgets`): a ``user_message`` over
  one is answered ``rate_limited`` and nothing of it goes upstream;
- the current assistant audio item with the bytes produced and the bytes actually sent to the
  browser, to truncate it where the user barged in;
- which input items the browser has been told about with ``speech_started``, so a
  ``transcription`` or a live caption is never sent without one before it
  (:mod:`trio_relay.transcripts`);
- the open text streams, so every ``text_delta`` stream ends with exactly one ``text_done``
  (:mod:`trio_relay.text_streams`);
- the server-side tool calls (:mod:`trio_relay.tool_calls`): which are running, and when their
  outputs and the ``response.create`` that follows them go upstream.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs

from . import realtime
from .actions import (
    Actions,
    McpEventSeen,
    Observation,
    RateLimited,
    RateLimitsReported,
    ResponseFinished,
    ToolInvocation,
    ToolResult,
    TurnEnded,
    UpstreamErrorReported,
    UsageReported,
)
from .browser import (
    AssistantAudio,
    Connected,
    ErrorMessage,
    UserMessage,
)
from .budgets import Budget, BudgetMeter, Budgets
from .config import Dialect, Limits, SessionSettings
from .errors import SessionExpired, UpstreamFailed
from .realtime import BYTES_PER_MS, ServerEvent, string_field
from .responses import ResponseState, cap, rate_limited
from .text_streams import TextStreams, text_id
from .tool_calls import ToolCalls
from .tools.toolbox import Toolbox
from .transcripts import InputTranscripts
from .usage import response_tokens

DEFAULT_LIMITS = Limits()

__all__ = [
    "Actions",
    "AssistantAudioItem",
    "Observation",
    "RateLimited",
    "RateLimitsReported",
    "ResponseFinished",
    "Translator",
    "ToolInvocation",
    "ToolResult",
    "TurnEnded",
    "UpstreamErrorReported",
    "UsageReported",
]


@attrs.define
class AssistantAudioItem:
    item_id: str
    content_index: int
    produced_bytes: int = 0
    sent_bytes: int = 0
    first_sent_at: float | None = None
    odd_byte: bytes = b""

    @property
    def produced_ms(self) -> int:
        return self.produced_bytes // BYTES_PER_MS

    def heard_ms(self, now: float) -> int:
        """How much of the item the user can have heard by ``now``: what was sent (clamped to
        what was produced), and no more than real-time playback since the first byte went out
        (the upstream produces audio much faster than the browser plays it)."""
        heard = min(self.sent_bytes, self.produced_bytes)
        if self.first_sent_at is not None and now != math.inf:
            played = int(max(0.0, now - self.first_sent_at) * 1000) * BYTES_PER_MS
            heard = min(heard, played)
        return heard // BYTES_PER_MS


class Translator:
    def __init__(
        self,
        settings: SessionSettings,
        dialect: Dialect,
        *,
        limits: Limits = DEFAULT_LIMITS,
        budgets: Budgets | None = None,
        tools: ToolCalls | None = None,
        session_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.session_id = session_id  # the relay's: the upstream's trace group (TRACING)
        self.dialect = dialect
        self.connected = False
        self.budgets = budgets or Budgets.from_limits(limits)
        self.meter = BudgetMeter(self.budgets)
        self.responses = ResponseState(
            self.meter,
            timeout_s=limits.upstream_response_timeout_s,
            retry_failed=limits.retry_failed_responses,
        )
        self.tools = tools or ToolCalls(Toolbox())
        self.audio_item: AssistantAudioItem | None = None
        self.unknown_events: Counter[str] = Counter()
        self.transcripts = InputTranscripts(deltas=settings.transcription_deltas)
        self._refused_audio = False
        self.texts = TextStreams()

    @property
    def response_active(self) -> bool:
        return self.responses.active

    @property
    def busy(self) -> bool:
        """A response is in flight, or tool calls run or wait to be answered."""
        return self.responses.active or self.tools.busy

    @property
    def response_create_queued(self) -> bool:
        return self.responses.queued

    @property
    def response_deadline(self) -> float | None:
        """When the upstream has kept a turn waiting too long: call :meth:`timed_out` then."""
        return self.responses.deadline

    # --- browser -> upstream ------------------------------------------------------------------

    def session_update(self) -> dict[str, Any]:
        return realtime.session_update(
            self.settings,
            self.dialect,
            tools=self.tools.toolbox.declarations(),
            session_id=self.session_id,
        )

    def user_message(self, message: UserMessage, now: float) -> Actions:
        """A typed turn at ``now``: its item and a ``response.create`` (or queued), unless it
        is over a per-minute budget (then ``rate_limited``, and nothing goes upstream)."""
        size = len(message.text.encode("utf-8"))
        refused = self.meter.check(Budget.USER_MESSAGES, 1, now) or self.meter.check(
            Budget.USER_TEXT_BYTES, size, now
        )
        if refused is not None:
            return rate_limited(refused)
        if (refusal := self.responses.would_refuse(now)) is not None:
            return refusal
        self.meter.spend(Budget.USER_MESSAGES, 1, now)
        self.meter.spend(Budget.USER_TEXT_BYTES, size, now)
        actions = Actions(
            to_upstream=[realtime.user_text_item(message.text)], observations=[TurnEnded()]
        )
        return actions.add(self.responses.request(now))

    def microphone_refused(self) -> Actions | None:
        """None: microphone audio goes upstream. With ``TURN_DETECTION=none`` nothing would
        ever end a spoken turn (the upstream detects none, and the browser protocol has no
        message to end one), so audio is not sent: the first frame is answered with an
        ``audio_not_accepted`` error, later ones are dropped quietly."""
        if self.settings.turn_detection != "none":
            return None
        if self._refused_audio:
            return Actions()
        self._refused_audio = True
        return Actions(
            to_client=[
                ErrorMessage(
                    "audio_not_accepted",
                    "This assistant takes typed messages only; the microphone is not used.",
                )
            ]
        )

    def audio_sent(self, audio: AssistantAudio, now: float = math.inf) -> None:
        """The session sent ``audio`` to the browser at ``now``: count it for barge-in."""
        item = self.audio_item
        if item is not None and item.item_id == audio.item_id:
            item.sent_bytes += len(audio.pcm)
            if item.first_sent_at is None and now != math.inf:
                item.first_sent_at = now

    def tool_finished(self, result: ToolResult, now: float) -> Actions:
        """A tool call the session ran has its result (see :mod:`trio_relay.tool_calls`)."""
        return self._answering(self.tools.finished(result), now)

    def _answering(self, actions: Actions, now: float) -> Actions:
        """Tool outputs or MCP approvals going upstream are followed by a ``response.create``
        (after the active response, if any), so the model goes on with them."""
        if actions.to_upstream:
            actions.add(self.responses.request(now))
        return actions

    # --- upstream -> browser ------------------------------------------------------------------

    def upstream_frame(self, frame: str | bytes, now: float = math.inf) -> Actions:
        """One WebSocket frame from the upstream: always a JSON object with a string ``type``."""
        if isinstance(frame, bytes):
            return Actions(end=UpstreamFailed("upstream sent a binary frame; expected JSON events"))
        try:
            event = json.loads(frame)
        except ValueError:
            return Actions(end=UpstreamFailed("upstream sent a frame that is not JSON"))
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return Actions(end=UpstreamFailed("upstream sent a JSON frame that is not an event"))
        return self.upstream_event(event, now)

    def upstream_event(self, event: Mapping[str, Any], now: float = math.inf) -> Actions:
        """One upstream event; ``now`` (seconds, the session's clock) dates barge-ins."""
        if self.responses.abandoned(event):
            return Actions()  # a late event of a response the relay gave up on
        self.responses.event_seen(now)  # any event, even one unknown to the relay
        name = event.get("type")
        kind = realtime.SERVER_EVENTS.get(name) if isinstance(name, str) else None
        if kind is None:
            self.unknown_events[str(name)] += 1
            return Actions()
        try:
            return self._dispatch(kind, event, now)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            return Actions(end=UpstreamFailed(f"upstream sent a malformed {name} event ({exc!r})"))

    def _dispatch(self, kind: ServerEvent, event: Mapping[str, Any], now: float) -> Actions:
        if kind is ServerEvent.AUDIO_DELTA:
            return self._audio_delta(event)
        if kind is ServerEvent.TEXT_DELTA:
            return Actions(to_client=self.texts.delta(event))
        if kind is ServerEvent.TEXT_DONE:
            return Actions(to_client=self.texts.done(event))
        if kind is ServerEvent.CONTENT_PART_DONE:
            return Actions(to_client=self.texts.close(text_id(event)))
        if kind is ServerEvent.SPEECH_STARTED:
            return self._speech_started(string_field(event, "item_id"), now)
        if kind is ServerEvent.TRANSCRIPTION_DELTA:
            return Actions(to_client=self.transcripts.delta(event))
        if kind is ServerEvent.TRANSCRIPTION_COMPLETED:
            return self.transcripts.completed(event)
        if kind is ServerEvent.TRANSCRIPTION_FAILED:
            error = event.get("error") or {}
            message = error.get("message") if isinstance(error, dict) else None
            message = cap(message) if isinstance(message, str) else None
            return Actions(
                to_client=[
                    ErrorMessage(
                        "transcription_failed",
                        "the upstream could not transcribe the spoken turn: "
                        f"{message or 'no reason given'}",
                    )
                ]
            )
        if kind is ServerEvent.RESPONSE_CREATED:
            return self.responses.created(_response(event), now)
        if kind is ServerEvent.RESPONSE_DONE:
            return self._response_done(event, now)
        if kind is ServerEvent.SPEECH_STOPPED:
            self.responses.speech_stopped(now)
            return Actions(observations=[TurnEnded()])
        if kind is ServerEvent.RATE_LIMITS:
            return Actions(observations=[_rate_limits(event)])
        if kind is ServerEvent.ERROR:
            return self._error(event)
        if kind is ServerEvent.SESSION_UPDATED:
            return self._session_updated()
        if kind is ServerEvent.OUTPUT_ITEM_DONE:
            item = event["item"]
            if not isinstance(item, dict):
                raise TypeError("field 'item' must be an object")
            return self._answering(self.tools.item_done(item, str(event.get("response_id"))), now)
        if kind is ServerEvent.MCP:
            return Actions(observations=[McpEventSeen(str(event["type"]))])
        return Actions()  # ServerEvent.TOLERATED

    def _session_updated(self) -> Actions:
        if self.connected:
            return Actions()
        self.connected = True
        return Actions(to_client=[Connected(self.settings.greeting)])

    def _audio_delta(self, event: Mapping[str, Any]) -> Actions:
        item_id = string_field(event, "item_id")
        item = self.audio_item
        if item is None or item.item_id != item_id:
            item = self.audio_item = AssistantAudioItem(item_id, int(event.get("content_index", 0)))
        pcm = item.odd_byte + base64.b64decode(string_field(event, "delta"), validate=True)
        if len(pcm) % 2:
            pcm, item.odd_byte = pcm[:-1], pcm[-1:]
        else:
            item.odd_byte = b""
        if not pcm:
            return Actions()
        item.produced_bytes += len(pcm)
        return Actions(to_client=[AssistantAudio(pcm, item_id)])

    def _speech_started(self, item_id: str, now: float) -> Actions:
        actions = Actions(to_client=self.transcripts.speech_started(item_id))
        self.responses.speech_started()
        item = self.audio_item
        if item is not None and item.sent_bytes > 0 and item.heard_ms(now) < item.produced_ms:
            # The user talked over the assistant: cut its item where the browser's audio ends, so
            # the model's context holds only what the user could have heard (nothing to cut when
            # all of it has played).
            actions.to_upstream.append(
                realtime.truncate_item(item.item_id, item.content_index, item.heard_ms(now))
            )
        self.audio_item = None
        return actions

    def _response_done(self, event: Mapping[str, Any], now: float) -> Actions:
        response = _response(event)
        # A late done of a response the relay gave up on leaves the current one's texts open.
        abandoned = self.responses.abandoned_response(response)
        actions = Actions(to_client=[] if abandoned else self.texts.close_all())
        usage = response.get("usage")
        if isinstance(usage, dict) and (tokens := response_tokens(usage)):
            actions.observations.append(UsageReported(tokens))
        actions.add(self.responses.done(response, now))
        if self.responses.abandoned_response(response):
            return actions
        return actions.add(self._answering(self.tools.response_done(response), now))

    def timed_out(self, now: float) -> Actions:
        """The session's clock passed :attr:`response_deadline`: the browser gets
        ``response_timeout`` (its open text streams closed first) and the next turn starts
        clean; nothing happens if the deadline has moved on meanwhile. Tool calls the stalled
        response asked for are answered when their results are in (its ``response.done``, which
        would have let them go, is dropped if it ever comes)."""
        stalled = self.responses.response_id
        actions = self.responses.timed_out(now)
        if not actions.to_client:
            return actions
        self.audio_item = None
        actions = Actions(to_client=self.texts.close_all()).add(actions)
        if stalled is not None:
            actions.add(self._answering(self.tools.response_done({"id": stalled}), now))
        return actions

    def _error(self, event: Mapping[str, Any]) -> Actions:
        error = event.get("error")
        if not isinstance(error, dict):
            error = {}
        if self.responses.error(error):
            return Actions()
        code = error.get("code") if isinstance(error.get("code"), str) else None
        message = error.get("message") if isinstance(error.get("message"), str) else None
        message = cap(message or "the upstream reported an error without a message")
        seen: list[Observation] = [UpstreamErrorReported(code or "unknown")]
        if code == "session_expired":
            return Actions(end=SessionExpired(message), observations=seen)
        if code in realtime.FATAL_ERROR_CODES or not self.connected:
            return Actions(end=UpstreamFailed(message, upstream_code=code), observations=seen)
        return Actions(
            to_client=[ErrorMessage("upstream_error", message, upstream_code=code)],
            observations=seen,
        )


def _response(event: Mapping[str, Any]) -> Mapping[str, Any]:
    response = event.get("response")
    return response if isinstance(response, dict) else {}


def _rate_limits(event: Mapping[str, Any]) -> RateLimitsReported:
    remaining: dict[str, float] = {}
    limits = event.get("rate_limits")
    for limit in limits if isinstance(limits, list) else ():
        if isinstance(limit, dict) and isinstance(limit.get("name"), str):
            value = limit.get("remaining")
            if isinstance(value, int | float) and not isinstance(value, bool):
                remaining[limit["name"]] = float(value)
    return RateLimitsReported(remaining)
