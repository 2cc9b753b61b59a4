"""Configuration: read once at start-up from the environment (and ``.env``) into frozen attrs.

Every setting has its default in this package and nowhere else; :func:`load_config` turns a
plain mapping of environment variables into a :class:`RelayConfig` or raises
:class:`ConfigError` naming the variable and what is wrong with it. One module per part:
:mod:`.env` (reading a variable), :mod:`.upstream`, :mod:`.session`, :mod:`.limits`,
:mod:`.access`, :mod:`.recording`, :mod:`.tools`, :mod:`.prices`, and :mod:`.relay` (the whole
and its loader).
No I/O besides the files the operator names.
"""

from ..errors import ConfigError
from .access import MIN_TICKET_SECRET_BYTES, Access
from .env import is_loopback
from .limits import Limits
from .prices import CostEstimate, ModelPrices, PriceTable, SessionPrices
from .recording import Recording
from .relay import DEFAULT_STATIC_DIR, RelayConfig, WorkerPlace, load_config
from .session import RetentionRatio, SessionSettings
from .tools import ToolSettings
from .upstream import (
    DEFAULT_OPENAI_BASE_URL,
    DEFAULT_OPENAI_MODEL,
    ENTRA_SCOPE,
    ENTRA_SCOPE_FALLBACK,
    Backend,
    Dialect,
    UpstreamTarget,
    azure_target,
    fake_target,
    openai_target,
)

__all__ = [
    "DEFAULT_OPENAI_BASE_URL",
    "DEFAULT_OPENAI_MODEL",
    "DEFAULT_STATIC_DIR",
    "ENTRA_SCOPE",
    "ENTRA_SCOPE_FALLBACK",
    "MIN_TICKET_SECRET_BYTES",
    "Access",
    "Backend",
    "CostEstimate",
    "ConfigError",
    "Dialect",
    "Limits",
    "ModelPrices",
    "PriceTable",
    "Recording",
    "RelayConfig",
    "RetentionRatio",
    "SessionPrices",
    "SessionSettings",
    "ToolSettings",
    "UpstreamTarget",
    "WorkerPlace",
    "azure_target",
    "fake_target",
    "is_loopback",
    "load_config",
    "openai_target",
]
