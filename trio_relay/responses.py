"""The response state machine: one upstream response at a time, and none that ends in silence.
Pure: no I/O, no clock (``now`` is passed in); the translator owns one and feeds it.

What it keeps, and why:

- **one response at a time.** A ``response.create`` asked for while a response is active (or
  while ours waits for its ``response.created``) is *queued* and sent after that response's
  ``response.done``, so the relay never provokes ``conversation_already_has_active_response``;
  when it meets one anyway (a server-VAD response got there first) it queues the create again.
- **a deadline.** After a relay ``response.create``, ``response.created`` is due within the
  response timeout; after ``input_audio_buffer.speech_stopped`` (server VAD creates responses,
  see :func:`~trio_relay.realtime.session_update`) too; and while a response runs, every upstream
  event must come within it of the last. :meth:`ResponseState.timed_out` then tells the browser
  ``response_timeout``, cancels a response that stalled and forgets the rest, so the next turn
  starts clean; the stalled response's id is *abandoned*: whatever of it arrives late is dropped.
- **how it ended.** ``failed``, ``incomplete`` and ``cancelled`` (unless the user barged in or
  the relay cancelled it) reach the browser as an ``error``. A ``failed`` response whose
  ``status_details.error.type`` is ``server_error`` (the upstream's own fault, not the request's:
  the openai models' ``RealtimeResponseStatus.error``) is retried once, through the queue, when
  retries are on; the browser hears of it only if the retry fails as well.
- **the responses budget.** A relay ``response.create`` over ``max_responses_per_min`` is not
  sent; a response the relay did not ask for (server VAD) over it is cancelled and abandoned.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, auto
from typing import Any

import attrs

from . import realtime
from .actions import Actions, RateLimited, ResponseFinished
from .browser import ErrorMessage
from .budgets import Budget, BudgetMeter, Refused

# Upstream text in an error for the browser is cut to this many characters.
MAX_UPSTREAM_TEXT = 300
# status_details.error.type values that mean the upstream failed, not the request (retryable).
SERVER_ERROR_TYPES = frozenset({"server_error"})
STATUSES = frozenset({"completed", "failed", "incomplete", "cancelled"})
# Abandoned response ids remembered (an upstream that never ends them cannot grow the set).
MAX_ABANDONED = 16
CREATE_PREFIX = "relay_response_create_"
CANCEL_PREFIX = "relay_response_cancel_"


class Phase(Enum):
    IDLE = auto()  # no response
    REQUESTED = auto()  # our response.create is out; its response.created is due
    BLOCKED = auto()  # our create met another response: it goes again after that one's done
    RUNNING = auto()  # a response (ours or server VAD's) is in progress


class ResponseState:
    def __init__(self, meter: BudgetMeter, *, timeout_s: float, retry_failed: bool) -> None:
        self.meter = meter
        self.timeout_s = timeout_s
        self.retry_failed = retry_failed
        self.phase = Phase.IDLE
        self.queued = False  # a response.create waits for the response in the way to end
        self.pending_create_id: str | None = None
        self.response_id: str | None = None  # the running response's id
        self._response_due: float | None = None  # REQUESTED / RUNNING: next event due by
        self._turn_due: float | None = None  # a spoken turn awaits its server-VAD response
        self._creates = 0
        self._cancels = 0
        # Responses timed out or cancelled over budget; an insertion-ordered set.
        self._abandoned: dict[str, None] = {}
        self._interrupted = False  # the user barged in on the running response
        self._retry_next = False  # the next create retries a failed response
        self._is_retry = False  # the requested / running response is a retry

    @property
    def active(self) -> bool:
        return self.phase is not Phase.IDLE

    @property
    def deadline(self) -> float | None:
        """When the upstream has kept the relay waiting too long (None: nothing is awaited)."""
        due = [t for t in (self._response_due, self._turn_due) if t is not None]
        return min(due) if due else None

    # --- the relay asks ------------------------------------------------------------------------

    def would_refuse(self, now: float) -> Actions | None:
        """A ``response.create`` asked for now would be over budget: the refusal (nothing spent)."""
        if self.active:
            return None  # it would wait; the budget is looked at when it goes
        refused = self.meter.check(Budget.RESPONSES, 1, now)
        return None if refused is None else rate_limited(refused)

    def request(self, now: float) -> Actions:
        """The relay wants an answer (a typed turn): now, or after the response in the way."""
        if self.active:
            self.queued = True
            return Actions()
        return self._create(now)

    def _create(self, now: float) -> Actions:
        retry, self._retry_next = self._retry_next, False
        refused = self.meter.spend(Budget.RESPONSES, 1, now)
        if refused is not None:
            return rate_limited(refused)
        self._creates += 1
        self.pending_create_id = f"{CREATE_PREFIX}{self._creates}"
        self.phase = Phase.REQUESTED
        self._is_retry = retry
        self._response_due = now + self.timeout_s
        return Actions(to_upstream=[realtime.response_create(self.pending_create_id)])

    def _cancel(self, response_id: str) -> dict[str, Any]:
        self._cancels += 1
        self._abandoned[response_id] = None
        if len(self._abandoned) > MAX_ABANDONED:
            del self._abandoned[next(iter(self._abandoned))]
        return realtime.response_cancel(f"{CANCEL_PREFIX}{self._cancels}", response_id)

    # --- the upstream says ---------------------------------------------------------------------

    def abandoned(self, event: Mapping[str, Any]) -> bool:
        """Whether ``event`` belongs to a response the relay gave up on (to be dropped)."""
        if not self._abandoned:
            return False
        response_id = event.get("response_id")
        return isinstance(response_id, str) and response_id in self._abandoned

    def abandoned_response(self, response: Mapping[str, Any]) -> bool:
        """Whether a ``response`` object (of ``response.done``) is one the relay gave up on."""
        response_id = response.get("id")
        return isinstance(response_id, str) and response_id in self._abandoned

    def event_seen(self, now: float) -> None:
        """Any upstream event: a running response is still alive."""
        if self.phase is Phase.RUNNING:
            self._response_due = now + self.timeout_s

    def speech_started(self) -> None:
        if self.phase is Phase.RUNNING:
            self._interrupted = True

    def speech_stopped(self, now: float) -> None:
        """Server VAD ended a spoken turn: it creates the response, due within the timeout.
        (Not while a response is active: whether the service answers the turn as well is its
        call, and that response has its own deadline.)"""
        if self.phase is Phase.IDLE and self._turn_due is None:
            self._turn_due = now + self.timeout_s

    def created(self, response: Mapping[str, Any], now: float) -> Actions:
        response_id = response.get("id")
        response_id = response_id if isinstance(response_id, str) else None
        actions = Actions()
        ours = self.phase is Phase.REQUESTED
        if not ours:
            # Server VAD answering a spoken turn (or a late answer to a turn that timed out).
            self._is_retry = False
            refused = self.meter.spend(Budget.RESPONSES, 1, now)
            if refused is not None and response_id is not None:
                actions = rate_limited(refused)
                actions.to_upstream.append(self._cancel(response_id))
        self.phase = Phase.RUNNING
        self.pending_create_id = None
        self.response_id = response_id
        self._interrupted = False
        self._turn_due = None
        self._response_due = now + self.timeout_s
        return actions

    def done(self, response: Mapping[str, Any], now: float) -> Actions:
        response_id = response.get("id")
        if isinstance(response_id, str) and response_id in self._abandoned:
            del self._abandoned[response_id]
            if response_id != self.response_id and self.phase is not Phase.BLOCKED:
                return Actions()  # timed out long ago: the state moved on without it
            return self._finished(now)  # the rate-limited cancel, or what blocked our create
        status = response.get("status")
        status = status if isinstance(status, str) else "completed"
        details = response.get("status_details")
        details = details if isinstance(details, dict) else {}
        finished = ResponseFinished(
            status if status in STATUSES else "unknown", _upstream_code(details)
        )
        actions = Actions()
        if status == "failed" and self._should_retry(details, now):
            self._retry_next = self.queued = True
            finished = attrs.evolve(finished, retried=True)
        elif status in ("failed", "incomplete") or (
            status == "cancelled" and not self._interrupted
            and details.get("reason") != "turn_detected"
        ):  # fmt: skip
            actions.to_client.append(_ended_badly(status, details))
        actions.observations.append(finished)
        return actions.add(self._finished(now))

    def _should_retry(self, details: Mapping[str, Any], now: float) -> bool:
        """Once, for the upstream's own fault, and only within the responses budget (else the
        browser hears of the failure rather than of the budget)."""
        error = details.get("error")
        kind = error.get("type") if isinstance(error, dict) else None
        return (
            self.retry_failed
            and not self._is_retry
            and kind in SERVER_ERROR_TYPES
            and self.meter.check(Budget.RESPONSES, 1, now) is None
        )

    def _finished(self, now: float) -> Actions:
        self.phase = Phase.IDLE
        self.response_id = self.pending_create_id = None
        self._response_due = None
        self._interrupted = self._is_retry = False
        if self.queued:
            self.queued = False
            return self._create(now)
        return Actions()

    def error(self, error: Mapping[str, Any]) -> bool:
        """An upstream ``error`` about one of our events; True when it is handled here (the
        browser need not hear of it)."""
        event_id = error.get("event_id")
        code = error.get("code")
        if not isinstance(event_id, str):
            return False
        if event_id.startswith(CANCEL_PREFIX):
            # The response we cancelled had ended already: nothing was lost.
            return code == "response_cancel_not_active"
        if not event_id.startswith(CREATE_PREFIX):
            return False
        if code == "conversation_already_has_active_response":
            # A server-VAD response got there first: ask again once it is done.
            if event_id == self.pending_create_id:
                self.pending_create_id = None
                self.phase = Phase.BLOCKED  # still due: that response's events must come
            self.queued = True
            return True
        if event_id == self.pending_create_id:
            self.phase = Phase.IDLE  # refused for good; reported as an upstream error
            self.pending_create_id = None
            self._response_due = None
        return False

    # --- the relay waited long enough ----------------------------------------------------------

    def timed_out(self, now: float) -> Actions:
        """The upstream has not answered by :attr:`deadline`: tell the browser, cancel what
        stalled, and start clean (a queued create is dropped: the next turn asks anew)."""
        deadline = self.deadline
        if deadline is None or now < deadline:
            return Actions()
        limit = f"{self.timeout_s:g} s"
        actions = Actions(observations=[ResponseFinished("timed_out")])
        if self.phase is Phase.RUNNING and self.response_id is not None:
            message = f"the answer stopped: the upstream sent nothing for {limit}"
            actions.to_upstream.append(self._cancel(self.response_id))
        elif self.phase is Phase.REQUESTED:
            message = f"no answer: the upstream did not start one within {limit}"
        else:
            message = f"no answer to the spoken turn: the upstream did not start one within {limit}"
        actions.to_client.append(ErrorMessage("response_timeout", message + "; please try again"))
        self.phase = Phase.IDLE
        self.queued = self._retry_next = self._is_retry = self._interrupted = False
        self.response_id = self.pending_create_id = None
        self._response_due = self._turn_due = None
        return actions


def rate_limited(refused: Refused) -> Actions:
    """What the browser hears of a request over a budget (nothing of it goes upstream)."""
    return Actions(
        to_client=[ErrorMessage("rate_limited", refused.message)],
        observations=[RateLimited(refused.budget.value)],
    )


def cap(text: str, limit: int = MAX_UPSTREAM_TEXT) -> str:
    """Upstream text for the browser: at most ``limit`` characters, marked where cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _upstream_code(details: Mapping[str, Any]) -> str | None:
    """The upstream's word for why a response did not complete: the error's code, else its
    type (a ``server_error`` often has no code), else the reason (``max_output_tokens``...)."""
    error = details.get("error")
    error = error if isinstance(error, dict) else {}
    for value in (error.get("code"), error.get("type"), details.get("reason")):
        if isinstance(value, str) and value:
            return cap(value, 64)
    return None


def _ended_badly(status: str, details: Mapping[str, Any]) -> ErrorMessage:
    """The browser's ``error`` for a response that ended ``status`` (not completed)."""
    error = details.get("error")
    error = error if isinstance(error, dict) else {}
    reason = details.get("reason")
    reason = reason if isinstance(reason, str) else None
    said = error.get("message") if isinstance(error.get("message"), str) else None
    upstream_code = _upstream_code(details)
    what = {
        "failed": "the answer failed upstream",
        "incomplete": "the answer was cut short upstream",
        "cancelled": "the answer was cancelled upstream",
    }[status]
    because = said or reason or "no reason given"
    if upstream_code is not None and upstream_code not in because:
        because = f"{because} ({upstream_code})"
    return ErrorMessage(
        f"response_{status}",
        cap(f"{what}: {because}"),
        upstream_code=upstream_code,
    )
