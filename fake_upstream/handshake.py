"""What both shells tell websockets, and how they answer an opening handshake: the same limits,
the same request read into a path, a query and headers for :func:`.routing.admit`, and the same
refusal, in plain HTTP as the real services answer. websockets' Sans-I/O types only: no
sockets, no tasks, no event loop.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

import attrs
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .routing import Refused

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # larger client messages are closed with 1009
HANDSHAKE_TIMEOUT_S = 10.0  # how long a client gets for the TLS and WebSocket handshakes
READ_AHEAD_FRAMES = 16  # client messages taken before the engine takes them
CLOSE_HANDSHAKE_TIMEOUT_S = 2.0  # how long a peer gets to answer a scripted close

# websockets logs every frame and header at DEBUG (credentials included) and every connection
# at INFO; the fake records connections itself. Its warnings and errors get through.
PROTOCOL_LOG = logging.getLogger("fake_upstream.websockets")
PROTOCOL_LOG.setLevel(logging.WARNING)


@attrs.frozen
class RequestParts:
    """An opening handshake's request, as :func:`.routing.admit` reads it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-case

    @classmethod
    def of(cls, request: Request) -> RequestParts:
        target = urlsplit(request.path)
        headers = {name.lower(): value for name, value in request.headers.raw_items()}
        return cls(target.path, dict(parse_qsl(target.query)), headers)


def refusal_response(refused: Refused) -> Response:
    """A refused handshake in plain HTTP, as the real services answer it."""
    try:
        phrase = HTTPStatus(refused.status).phrase
    except ValueError:
        phrase = ""
    headers = Headers(
        [(name.decode("latin-1"), value.decode("latin-1")) for name, value in refused.headers]
    )
    headers["Content-Length"] = str(len(refused.body))
    headers["Connection"] = "close"
    return Response(refused.status, phrase, headers, refused.body)
