"""Where and how the relay connects upstream: the backend, its URL and dialect, its credential,
the CA certificates a ``wss://`` upstream is verified against. Pure: no I/O besides reading the
CA file the operator names (so that a bad one stops start-up)."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from enum import StrEnum
from urllib.parse import quote, urlsplit, urlunsplit

import attrs

from ..errors import ConfigError
from .env import flag, is_loopback, required, text

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
# The current recommended GA realtime model (the openai package's model literals list it;
# gpt-realtime and gpt-realtime-mini are deprecated, shutdown announced for 2027-01-20).
DEFAULT_OPENAI_MODEL = "gpt-realtime-2.1"
# The Entra ID scope of Azure OpenAI tokens, as Azure's current docs ask for it; resources (or
# clouds) that refuse it take the older scope, which ENTRA_SCOPE can name.
ENTRA_SCOPE = "https://ai.azure.com/.default"
ENTRA_SCOPE_FALLBACK = "https://cognitiveservices.azure.com/.default"


class Backend(StrEnum):
    OPENAI = "openai"
    AZURE = "azure"
    FAKE = "fake"


class Dialect(StrEnum):
    """Which Realtime protocol the upstream speaks: GA by default, beta for Azure previews."""

    GA = "ga"
    BETA = "beta"


@attrs.frozen
class UpstreamTarget:
    """Where and how to connect upstream. Secrets are kept out of ``repr``."""

    backend: Backend
    url: str
    dialect: Dialect
    api_key: str | None = attrs.field(default=None, repr=False)
    use_entra_id: bool = False
    entra_scope: str = ENTRA_SCOPE  # the scope its Entra ID tokens are asked for
    # wss:// trusts only the CA certificates in this PEM file (UPSTREAM_CA_FILE); None: the
    # system's trust store (OpenSSL's default paths, which honour SSL_CERT_FILE/SSL_CERT_DIR).
    ca_file: str | None = None
    # The model (OpenAI) or deployment (Azure) name, as configured: what PRICES is keyed by.
    model: str | None = None


def _ws_base(url: str, variable: str) -> str:
    """Normalise an http(s)/ws(s) base URL to ws(s), without a trailing slash."""
    parts = urlsplit(url.strip())
    schemes = {"https": "wss", "wss": "wss", "http": "ws", "ws": "ws"}
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigError(
            variable, f"must be an https:// (or wss://, http:// for local tests) URL, got {url!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigError(variable, "must not have a query string or fragment")
    return urlunsplit((schemes[parts.scheme], parts.netloc, parts.path.rstrip("/"), "", ""))


def openai_target(
    base_url: str, model: str, api_key: str, *, variable: str = "OPENAI_BASE_URL"
) -> UpstreamTarget:
    base = _ws_base(base_url, variable)
    url = f"{base}/realtime?model={quote(model, safe='')}"
    return UpstreamTarget(Backend.OPENAI, url, Dialect.GA, api_key=api_key, model=model)


def azure_target(
    endpoint: str, deployment: str, *, api_key: str | None, api_version: str | None
) -> UpstreamTarget:
    base = _ws_base(endpoint, "AZURE_OPENAI_ENDPOINT")
    if api_version:
        url = (
            f"{base}/openai/realtime?api-version={quote(api_version, safe='')}"
            f"&deployment={quote(deployment, safe='')}"
        )
        dialect = Dialect.BETA
    else:
        url = f"{base}/openai/v1/realtime?model={quote(deployment, safe='')}"
        dialect = Dialect.GA
    return UpstreamTarget(
        Backend.AZURE,
        url,
        dialect,
        api_key=api_key,
        use_entra_id=api_key is None,
        model=deployment,
    )


def fake_target(fake_url: str, model: str) -> UpstreamTarget:
    """The bundled fake upstream, spoken to exactly as OpenAI GA is (same path and auth), but
    named ``fake`` wherever the backend shows (logs, messages)."""
    target = openai_target(f"{fake_url}/v1", model, "fake-upstream-key", variable="fake upstream")
    return attrs.evolve(target, backend=Backend.FAKE)


def backend_from_env(env: Mapping[str, str]) -> tuple[Backend, bool]:
    """The backend, and whether it was inferred from the credentials rather than named."""
    raw = env.get("BACKEND", "").strip().lower()
    if raw:
        try:
            return Backend(raw), False
        except ValueError:
            raise ConfigError("BACKEND", f"must be openai, azure or fake, got {raw!r}") from None
    if env.get("AZURE_OPENAI_ENDPOINT", "").strip():
        return Backend.AZURE, True
    if env.get("OPENAI_API_KEY", "").strip():
        return Backend.OPENAI, True
    return Backend.FAKE, True


def upstream_from_env(env: Mapping[str, str], backend: Backend) -> UpstreamTarget | None:
    """The upstream of ``backend`` (None for the bundled fake: it is resolved once it has bound
    its port, see :func:`fake_target`), checked for transport security."""
    target = _with_ca_file(env, _upstream(env, backend))
    _check_transport_security(env, target)
    return target


def _upstream(env: Mapping[str, str], backend: Backend) -> UpstreamTarget | None:
    if backend is Backend.OPENAI:
        key = required(env, "OPENAI_API_KEY", "with BACKEND=openai")
        return openai_target(
            text(env, "OPENAI_BASE_URL", DEFAULT_OPENAI_BASE_URL),
            text(env, "OPENAI_MODEL", DEFAULT_OPENAI_MODEL),
            key,
        )
    if backend is Backend.AZURE:
        endpoint = required(env, "AZURE_OPENAI_ENDPOINT", "with BACKEND=azure")
        deployment = required(env, "AZURE_OPENAI_DEPLOYMENT", "with BACKEND=azure")
        target = azure_target(
            endpoint,
            deployment,
            api_key=env.get("AZURE_OPENAI_API_KEY", "").strip() or None,
            api_version=env.get("AZURE_OPENAI_API_VERSION", "").strip() or None,
        )
        return attrs.evolve(target, entra_scope=_entra_scope(env))
    return None


def _entra_scope(env: Mapping[str, str]) -> str:
    scope = env.get("ENTRA_SCOPE", "").strip()
    if not scope:
        return ENTRA_SCOPE
    if not scope.startswith(("https://", "api://")) or any(c.isspace() for c in scope):
        raise ConfigError(
            "ENTRA_SCOPE",
            f"must be one scope URI such as {ENTRA_SCOPE} (or {ENTRA_SCOPE_FALLBACK}), "
            f"got {scope!r}",
        )
    return scope


def _with_ca_file(env: Mapping[str, str], target: UpstreamTarget | None) -> UpstreamTarget | None:
    ca_file = env.get("UPSTREAM_CA_FILE", "").strip()
    if not ca_file:
        return target
    try:
        ssl.create_default_context(cafile=ca_file)  # read now, so that a bad file stops start-up
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            "UPSTREAM_CA_FILE",
            f"is {ca_file!r}, which holds no CA certificates that can be loaded ({exc}): "
            "give a PEM file of CA certificates",
        ) from None
    return None if target is None else attrs.evolve(target, ca_file=ca_file)


def _check_transport_security(env: Mapping[str, str], target: UpstreamTarget | None) -> None:
    """A credential never crosses a network in clear text, unless the operator says so."""
    if target is None or flag(env, "ALLOW_INSECURE_UPSTREAM"):
        return
    parts = urlsplit(target.url)
    if parts.scheme == "ws" and not is_loopback(parts.hostname or ""):
        variable = (
            "OPENAI_BASE_URL" if target.backend is Backend.OPENAI else "AZURE_OPENAI_ENDPOINT"
        )
        raise ConfigError(
            variable,
            f"is a plain http:// or ws:// URL to {parts.hostname}, which would send the "
            "credential unencrypted: use https://, or set ALLOW_INSECURE_UPSTREAM=1 to allow it",
        )
