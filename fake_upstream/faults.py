"""Scripted faults, chosen per connection by the model (OpenAI) or deployment (Azure) name.
Pure: a table and two small functions; the engine and the server apply them. Any other name
behaves normally.

| name                        | what the fake does                                               |
|-----------------------------|------------------------------------------------------------------|
| ``fault-401``               | refuses the handshake: HTTP 401, OpenAI-shaped JSON error body   |
| ``fault-403``               | refuses the handshake: HTTP 403                                  |
| ``fault-429``               | refuses the handshake: HTTP 429 with ``Retry-After: 1``          |
| ``fault-500``               | refuses the handshake: HTTP 500                                  |
| ``fault-drop-mid-response`` | the first response sends a few deltas, then the TCP connection   |
|                             | is dropped with no close frame (the peer sees 1006)              |
| ``fault-error-recoverable`` | the first ``response.create`` is answered with an ``error``      |
|                             | (``invalid_request_error`` / ``invalid_value``); the session     |
|                             | stays open and works normally afterwards                         |
| ``fault-error-fatal``       | the first ``response.create`` is answered with an ``error``      |
|                             | ``insufficient_quota``, then the fake closes with **1011**       |
| ``fault-session-expired``   | after the first completed response: ``error`` ``session_expired``|
|                             | ("Your session hit the maximum duration of 60 minutes."), then   |
|                             | close **1001** (going away)                                      |
| ``fault-garbage``           | once the session is configured (``session.updated`` sent), the   |
|                             | next client event is answered with a text frame that is not JSON |
| ``fault-stall``             | sends ``session.created``, then never answers (no               |
|                             | ``session.updated``) and stops reading after at most one frame,  |
|                             | until the peer closes the connection                             |
| ``fault-stall-after-connect`` | confirms the session (``session.updated``), then stops reading  |
|                             | and answering: the peer's sends eventually block                 |
| ``fault-response-failed``   | the first response fails at once: ``response.created``, then     |
|                             | ``response.done`` ``failed`` with a ``server_error``; later ones |
|                             | are normal                                                       |
| ``fault-response-failed-twice`` | the same for the first two responses                         |
| ``fault-response-incomplete`` | the first response sends a few deltas, then ends ``incomplete``|
|                             | (``max_output_tokens``)                                          |
| ``fault-no-response``       | the first response (asked for, or server VAD's) is never started:|
|                             | no ``response.created``; the fake goes on reading and answers    |
|                             | later turns                                                      |
| ``fault-stall-mid-response`` | the first response sends a few deltas, then nothing more (the   |
|                             | fake goes on reading; ``response.cancel`` ends it ``cancelled``) |

Close codes: OpenAI documents no close code for a fatal error; it sends the ``error`` event and
closes. 1011 ("internal error") is what a quota or server failure looks like on the wire, and
1001 ("going away") is what the service uses when a session reaches its maximum duration.
"""

from __future__ import annotations

import json
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
    RESPONSE_FAILED = "fault-response-failed"
    RESPONSE_FAILED_TWICE = "fault-response-failed-twice"
    RESPONSE_INCOMPLETE = "fault-response-incomplete"
    NO_RESPONSE = "fault-no-response"
    STALL_MID_RESPONSE = "fault-stall-mid-response"


# Handshake refusals: fault -> HTTP status.
REFUSALS: dict[Fault, int] = {
    Fault.REFUSE_401: 401,
    Fault.REFUSE_403: 403,
    Fault.REFUSE_429: 429,
    Fault.REFUSE_500: 500,
}

FATAL_CLOSE_CODE = 1011
EXPIRED_CLOSE_CODE = 1001
SESSION_EXPIRED_MESSAGE = "Your session hit the maximum duration of 60 minutes."
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)

# How many responses, from the first, fail with SERVER_ERROR (RESPONSE_FAILED*).
FAILED_RESPONSES = {Fault.RESPONSE_FAILED: 1, Fault.RESPONSE_FAILED_TWICE: 2}
# status_details.error of a response that failed on the service's side (as OpenAI words it).
SERVER_ERROR = {
    "type": "server_error",
    "code": None,
    "message": "The server had an error while processing your request. Sorry about that! You can "
    "retry your request, or contact us through our help center if the error persists.",
}

# status -> (message, type, code) of the JSON body OpenAI sends with a refused handshake.
_REFUSAL_BODIES: dict[int, tuple[str, str, str | None]] = {
    401: (
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("You are not allowed to access this resource.", "invalid_request_error", None),
    404: (
        "The model does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    429: ("Rate limit reached; please try again later.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
}


def fault_for(model: str | None) -> Fault | None:
    """The fault a model or deployment name selects, if any."""
    try:
        return Fault(model) if model else None
    except ValueError:
        return None


def refusal_body(status: int) -> bytes:
    """A JSON error body shaped like OpenAI's for a refused handshake."""
    message, kind, code = _REFUSAL_BODIES.get(status, ("Error.", "server_error", None))
    error = {"message": message, "type": kind, "param": None, "code": code}
    return json.dumps({"error": error}).encode()


def azure_error_body(code: str, message: str) -> bytes:
    """A JSON error body shaped like Azure OpenAI's (``{"error": {"code", "message"}}``)."""
    return json.dumps({"error": {"code": code, "message": message}}).encode()
