"""Who may open a session: the decision on one WebSocket upgrade, before it is accepted and
before any upstream connection is made.

:func:`admit` refuses while the relay drains, for a browser origin not allowed, for missing or
bad client credentials (a ticket's claims included) and at capacity; otherwise it says who the
client is and what its session may spend, having taken a session slot for it. It answers
nothing itself: :class:`trio_relay.server.Relay` counts the refusal and sends its response.
"""

from __future__ import annotations

import time

import attrs
import h11

from .budgets import Budgets, InvalidClaims
from .client_auth import AuthFailed, ClientIdentity, find_credential, origin_allowed
from .config import Access, Limits
from .http import Response, text
from .limits import Slots
from .log import get_logger
from .tools.toolbox import InvalidToolsClaim, Toolbox

# The relay's own logger: refusals log as they did before admission had a module of its own.
log = get_logger("trio_relay.server")

# Why an upgrade was refused (the rejections metric's label), and the answer to send.
Refusal = tuple[str, Response]


@attrs.frozen
class Admitted:
    """An upgrade that may become a session: who the client is, and its budgets."""

    who: ClientIdentity
    budgets: Budgets
    toolbox: Toolbox


def admit(
    request: h11.Request,
    target: str,
    ip: str,
    *,
    ready: bool,
    access: Access,
    limits: Limits,
    toolbox: Toolbox,
    slots: Slots,
) -> Refusal | Admitted:
    """Why this upgrade must be refused, or who the client is and what its session may spend
    (a ticket's claims may set its budgets and narrow ``toolbox``): then a slot was taken from
    ``slots`` for ``ip``, which the caller gives back when the session ends.

    ``target`` is the request target as sent (a credential may be in its query); ``ready`` is
    false while the relay drains.
    """
    if not ready:
        return "draining", text(503, "the relay is shutting down; retry shortly", retry_after=5)
    origin = _header(request, b"origin")
    if not origin_allowed(origin, access.allowed_origins):
        log.warning("refused a WebSocket: origin not allowed", origin=(origin or "")[:200])
        return "origin", text(403, "origin not allowed")
    try:
        who = access.client_auth.authenticate(find_credential(request.headers, target), time.time())
        budgets = Budgets.from_limits(limits).with_claims(who.claims)
        session_toolbox = toolbox.for_claims(who.claims)
    except (AuthFailed, InvalidClaims, InvalidToolsClaim) as exc:
        failure = exc if isinstance(exc, AuthFailed) else AuthFailed(str(exc))
        log.warning("refused a WebSocket: authentication failed", ip=ip, reason=failure.reason)
        return "auth", text(
            401,
            f"authentication required: {failure.reason}",
            headers=(("www-authenticate", failure.www_authenticate),),
        )
    refusal = slots.try_take(ip)  # the check and the take are one step
    if refusal is not None:
        log.warning("refused a WebSocket: at capacity", ip=ip, client=who.name, reason=refusal)
        return "capacity", text(503, refusal, retry_after=5)
    return Admitted(who, budgets, session_toolbox)


def _header(request: h11.Request, name: bytes) -> str | None:
    for key, value in request.headers:
        if key == name:
            return value.decode("latin-1")
    return None
