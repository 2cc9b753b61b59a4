"""Scripted faults, chosen per connection by the model (or deployment) name. Pure: a table.

- ``fault-401``, ``fault-403``, ``fault-429`` (with ``Retry-After: 1``), ``fault-500``:
  the handshake is refused with that HTTP status and an OpenAI-shaped JSON error body.
- ``fault-drop-mid-response``: the first response sends a few deltas, then TCP is dropped
  without a close frame.
- ``fault-error-recoverable``: the first ``response.create`` gets an ``error`` event
  (``invalid_value``); the session carries on normally.
- ``fault-error-fatal``: the first ``response.create`` gets ``insufficient_quota``, then close
  1011, as OpenAI does for a fatal error.
- ``fault-session-expired``: after the first completed response, ``error`` ``session_expired``
  and close 1001 (the 60-minute limit, compressed).
- ``fault-garbage``: the next client event after ``session.updated`` is answered with a frame
  that is not JSON.
- ``fault-stall``: sends ``session.created``, then never reads or answers again.
- ``fault-stall-after-connect``: confirms the session, then never reads or answers again.
"""

from __future__ import annotations

from enum import StrEnum


class Fault(StrEnum):
    REFUSE_401 = "fault-401"
    REFUSE_403 = "fault-403"
    REFUSE_429 = "fault-429"
    REFUSE_500 = "fault-500"
    DROP_MID_RESPONSE = "fault-drop-mid-response"
    ERROR_RECOVERABLE = "fault-error-recoverable"
    ERROR_FATAL = "fault-error-fatal"
    SESSION_EXPIRED = "fault-session-expired"
    GARBAGE = "fault-garbage"
    STALL = "fault-stall"
    STALL_AFTER_CONNECT = "fault-stall-after-connect"


REFUSALS: dict[Fault, int] = {
    Fault.REFUSE_401: 401,
    Fault.REFUSE_403: 403,
    Fault.REFUSE_429: 429,
    Fault.REFUSE_500: 500,
}


def fault_for(model: str | None) -> Fault | None:
    try:
        return Fault(model) if model else None
    except ValueError:
        return None


def refusal_body(status: int) -> bytes:
    """An error body shaped like OpenAI's for a refused handshake."""
    messages = {
        401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
        403: ("You are not allowed to access this resource.", "invalid_request_error", None),
        404: (
            "The model does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
        429: ("Rate limit reached; please try again later.", "requests", "rate_limit_exceeded"),
        500: ("The server had an error while processing your request.", "server_error", None),
    }
    message, kind, code = messages.get(status, ("Error.", "server_error", None))
    code_json = "null" if code is None else f'"{code}"'
    return (
        f'{{"error":{{"message":"{message}","type":"{kind}","code":{code_json},"param":null}}}}'
    ).encode()
