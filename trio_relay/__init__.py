"""trio-relay: relays browser voice/text clients to the OpenAI / Azure OpenAI Realtime API.

The public surface is small: load a configuration, serve it, or embed the pure translator.
"""

from .config import Backend, Dialect, Limits, RelayConfig, SessionSettings, load_config
from .errors import ConfigError
from .serving import serve_relay
from .translator import Translator

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "ConfigError",
    "Dialect",
    "Limits",
    "RelayConfig",
    "SessionSettings",
    "Translator",
    "load_config",
    "serve_relay",
]
