"""Keeping the relay's secrets out of its logs and out of what browsers receive. Pure: no I/O.

One process-wide :data:`REDACTOR` knows the relay's own credentials: the upstream API key,
client tokens, the ticket secret and the metrics token are registered at start-up
(:func:`register_config`), each Entra ID token as it is fetched (:func:`register`, rotating: only
the most recent few are kept, the older ones have expired). Whatever text it is given has every
registered secret replaced by ``[redacted]``, and so has anything shaped like a credential even
when it is not one of ours (a ``Bearer`` value, a JWT, an ``api-key`` header or a ``token=``
query parameter), since an upstream or a library may quote a credential the relay never saw.

Two choke points use it: the log pipeline (:mod:`trio_relay.log`) on every string of every
event, and :func:`for_browser` on every text sent to a browser (``error`` messages, close
reasons), which also caps its length: upstream text is untrusted and never passes verbatim.
"""

from __future__ import annotations

import re
from collections import deque
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from .config import RelayConfig

REDACTED = "[redacted]"
# Shorter values are not treated as secrets: redacting them would garble every log line (the
# config already requires client tokens of 16 and ticket secrets of 32 characters or more).
MIN_SECRET_CHARS = 8
# Entra ID tokens are replaced about once an hour; older ones are useless, so only these stay.
ROTATING_SECRETS = 8
BROWSER_TEXT_MAX_CHARS = 300
CODE_MAX_CHARS = 64
LOG_TEXT_MAX_CHARS = 2000
# Longer input is cut to this many times the output limit before it is looked at (bounded work).
PRECUT_FACTOR = 16

# Credential-shaped text, redacted whoever it belongs to. Group 1 (where present) is kept.
_SHAPES = (
    r"(?i:(\bbearer[ .]+))[A-Za-z0-9._~+/=-]{8,}",
    r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",  # a JWT (a ticket, a token)
    r"(?i:(\bapi[-_]?key[\"']?\s*[:=]\s*[\"']?))[^\s\"',;&]{8,}",
    r"(?i:([?&](?:token|api[-_]?key|access_token|key|sig)=))[^&#\s\"']+",
)


class Redactor:
    """Replaces registered secrets and credential-shaped text with ``[redacted]``."""

    def __init__(self) -> None:
        self._pinned: dict[str, None] = {}  # an insertion-ordered set
        self._rotating: deque[str] = deque(maxlen=ROTATING_SECRETS)
        self._pattern = self._compile()

    def register(self, *secrets: str | bytes | None, rotating: bool = False) -> None:
        """Redact these from now on (values shorter than ``MIN_SECRET_CHARS`` are ignored)."""
        changed = False
        for secret in secrets:
            if isinstance(secret, bytes):
                secret = secret.decode("utf-8", "replace")
            if secret is None or len(secret.strip()) < MIN_SECRET_CHARS:
                continue
            for form in {secret, secret.strip(), quote(secret, safe="")}:
                if rotating and form not in self._rotating:
                    self._rotating.append(form)
                    changed = True
                elif not rotating and form not in self._pinned:
                    self._pinned[form] = None
                    changed = True
        if changed:
            self._pattern = self._compile()

    def __call__(self, text: str) -> str:
        return self._pattern.sub(_keep_prefix, text)

    def _compile(self) -> re.Pattern[str]:
        # Longest first, so a secret that contains another is redacted whole.
        secrets = sorted({*self._pinned, *self._rotating}, key=len, reverse=True)
        alternatives = [re.escape(s) for s in secrets] + [f"(?:{s})" for s in _SHAPES]
        return re.compile("|".join(alternatives))


def _keep_prefix(match: re.Match[str]) -> str:
    prefix = next((g for g in match.groups() if g), "")
    return prefix + REDACTED


REDACTOR = Redactor()


def register(*secrets: str | bytes | None, rotating: bool = False) -> None:
    REDACTOR.register(*secrets, rotating=rotating)


def register_config(config: RelayConfig) -> None:
    """The configuration's secrets: the upstream key, client tokens, ticket and metrics secrets."""
    auth = config.access.client_auth
    upstream_key = config.upstream.api_key if config.upstream is not None else None
    register(upstream_key, *auth.tokens, auth.ticket_secret, config.access.metrics_token)


def redact(text: str) -> str:
    return REDACTOR(text)


def for_log(text: str, *, max_chars: int = LOG_TEXT_MAX_CHARS) -> str:
    """Untrusted text for an operator: one line (no control characters to forge log lines or
    move a terminal's cursor), redacted, capped."""
    return _cap(redact(_printable(_precut(text, max_chars))), max_chars)


def for_browser(text: str, *, max_chars: int = BROWSER_TEXT_MAX_CHARS) -> str:
    """Text sent to a browser: redacted, valid UTF-8 (no lone surrogates), no control
    characters, at most ``max_chars`` (cut at a word, marked with '...')."""
    return _cap(redact(_printable(_precut(text, max_chars))), max_chars)


def code_for_browser(code: str | None) -> str | None:
    """An error code from an upstream, for a browser: short, redacted, or None."""
    return for_browser(code, max_chars=CODE_MAX_CHARS) if code else None


def _precut(text: str, max_chars: int) -> str:
    """An upstream may send megabytes of text: keep only a generous head to work on, ending at
    a whole word (a secret is one word: cut through, its head would no longer match)."""
    if len(text) <= PRECUT_FACTOR * max_chars:
        return text
    head = text[: PRECUT_FACTOR * max_chars]
    end = max(head.rfind(c) for c in " \t\r\n")
    return (head[:end] if end > 0 else "") + " ..."


def _printable(text: str) -> str:
    # A JSON "\ud800" escape from an upstream decodes to a lone surrogate, which cannot be
    # encoded as UTF-8 and would fail the frame that carries it.
    valid = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(c if c.isprintable() else " " for c in valid)


def _cap(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 3]
    if " " in cut[max_chars // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut + "..."  # redacted before the cut: a cut can only shorten a "[redacted]"
