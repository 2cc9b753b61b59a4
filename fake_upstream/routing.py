"""Which service a handshake is for, and whether it is let in, decided as the real services
decide. Pure: a request's path, query and headers in, a :class:`Route` out or :class:`Refused`.

- ``<prefix>/realtime?model=M`` (e.g. ``/v1/realtime``): OpenAI, GA dialect; beta with the
  header ``OpenAI-Beta: realtime=v1``.
- ``/openai/v1/realtime?model=DEPLOYMENT``: Azure OpenAI, GA dialect.
- ``/openai/realtime?api-version=V&deployment=DEPLOYMENT``: Azure OpenAI preview, beta dialect.

Credentials: OpenAI takes ``Authorization: Bearer KEY`` only (as the real one does); Azure takes
a Bearer token or ``api-key: KEY``. With a required key, anything else is HTTP 401; without one,
any non-empty credential is accepted. A fault name as the model (see :mod:`.faults`) may then
refuse the handshake.
"""

from __future__ import annotations

import json
from typing import Literal

import attrs

from .faults import REFUSALS, azure_error_body, fault_for, refusal_body
from .protocol import DialectName

Backend = Literal["openai", "azure"]


@attrs.frozen
class Route:
    backend: Backend
    dialect: DialectName
    model: str  # the model (OpenAI) or deployment (Azure) name


class Refused(Exception):
    """The handshake is refused with ``status``, these extra headers and this JSON body."""

    def __init__(
        self,
        status: int,
        body: bytes | None = None,
        route: Route | None = None,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body if body is not None else refusal_body(status)
        self.route = route
        self.headers = ((b"content-type", b"application/json"), *headers)


def route(path: str, query: dict[str, str], headers: dict[str, str]) -> Route:
    """The route of a handshake (header names lower-case); raises :class:`Refused`."""
    if path == "/openai/v1/realtime":
        if not query.get("model"):
            raise Refused(400, azure_error_body("BadRequest", "Missing required parameter: model."))
        return Route("azure", "ga", query["model"])
    if path == "/openai/realtime":
        if not query.get("api-version"):
            message = "Missing required query parameter: api-version."
            raise Refused(400, azure_error_body("BadRequest", message))
        if not query.get("deployment"):
            message = "The API deployment for this resource does not exist."
            raise Refused(404, azure_error_body("DeploymentNotFound", message))
        return Route("azure", "beta", query["deployment"])
    if path.endswith("/realtime") and not path.startswith("/openai/"):
        if not query.get("model"):
            raise Refused(400, _openai_error("Missing required parameter: 'model'.", "model"))
        beta = headers.get("openai-beta", "").replace(" ", "") == "realtime=v1"
        return Route("openai", "beta" if beta else "ga", query["model"])
    raise Refused(404, _openai_error(f"Invalid URL (GET {path})", None))


def credential(headers: dict[str, str], backend: Backend) -> str | None:
    """The credential a request carries for ``backend``, if any."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if backend == "azure" and headers.get("api-key", "").strip():
        return headers["api-key"].strip()
    return None


def admit(path: str, query: dict[str, str], headers: dict[str, str], api_key: str | None) -> Route:
    """The route of an admitted handshake; raises :class:`Refused` (carrying the route, when
    the path was understood) otherwise."""
    found = route(path, query, headers)
    given = credential(headers, found.backend)
    if given is None or (api_key is not None and given != api_key):
        raise Refused(401, route=found)
    fault = fault_for(found.model)
    if fault is not None and fault in REFUSALS:
        retry = ((b"retry-after", b"1"),) if REFUSALS[fault] == 429 else ()
        raise Refused(REFUSALS[fault], route=found, headers=retry)
    return found


def _openai_error(message: str, param: str | None) -> bytes:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    return json.dumps({"error": error}).encode()
