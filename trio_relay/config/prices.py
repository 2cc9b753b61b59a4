"""``PRICES``: an optional price table that turns what the upstream reports a session used into
an estimated cost. Pure: no I/O besides reading the file the operator names.

The table maps model names (as configured: ``OPENAI_MODEL``, an Azure deployment name,
``TRANSCRIPTION_MODEL``) to prices by kind (:mod:`trio_relay.usage`): USD per million tokens,
and ``transcription_minutes`` in USD per minute of audio for transcription billed by duration.
A response's tokens are priced by the realtime model's entry, an input transcription's by the
transcription model's. It is an estimate: the upstream's invoice is the truth.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..errors import ConfigError
from ..usage import TOKEN_KINDS, TRANSCRIPTION_KINDS

PER_MINUTE = "transcription_minutes"
TRANSCRIPTION_SECONDS = "transcription_seconds"  # how unpriced duration usage is named


@attrs.frozen
class ModelPrices:
    usd_per_million_tokens: Mapping[str, float]  # by token kind
    usd_per_minute: float | None = None  # transcribed audio billed by duration


@attrs.frozen
class CostEstimate:
    usd: float
    unpriced: tuple[str, ...] = ()  # kinds used that the table has no price for


@attrs.frozen
class SessionPrices:
    """The prices of one session's models: its realtime model's and its transcription's."""

    realtime: ModelPrices | None
    transcription: ModelPrices | None = None

    def estimate(self, tokens: Mapping[str, int], transcription_seconds: float) -> CostEstimate:
        usd = 0.0
        unpriced: list[str] = []
        for kind, count in tokens.items():
            prices = self.transcription if kind in TRANSCRIPTION_KINDS else self.realtime
            price = None if prices is None else prices.usd_per_million_tokens.get(kind)
            if price is None:
                unpriced.append(kind)
            else:
                usd += count * price / 1_000_000
        if transcription_seconds:
            per_minute = None if self.transcription is None else self.transcription.usd_per_minute
            if per_minute is None:
                unpriced.append(TRANSCRIPTION_SECONDS)
            else:
                usd += transcription_seconds / 60 * per_minute
        return CostEstimate(usd, tuple(unpriced))


@attrs.frozen
class PriceTable:
    models: Mapping[str, ModelPrices]

    def for_session(self, model: str, transcription_model: str | None) -> SessionPrices:
        return SessionPrices(
            self.models.get(model),
            None if transcription_model is None else self.models.get(transcription_model),
        )


def prices_from_env(env: Mapping[str, str]) -> PriceTable | None:
    """``PRICES``: inline JSON (``{...}``), or a ``.json`` or ``.toml`` file."""
    raw = env.get("PRICES", "").strip()
    if not raw:
        return None
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ConfigError("PRICES", f"is not valid JSON ({exc})") from None
    else:
        data = _read(Path(raw))
    return _table(data)


def _read(path: Path) -> Any:
    if path.suffix not in (".json", ".toml"):
        raise ConfigError(
            "PRICES", f"must be inline JSON or a .json or .toml file, got {str(path)!r}"
        )
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("PRICES", f"cannot read {str(path)!r}: {exc.strerror}") from None
    try:
        return tomllib.loads(content) if path.suffix == ".toml" else json.loads(content)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError("PRICES", f"{str(path)!r} does not parse ({exc})") from None


def _table(data: Any) -> PriceTable:
    if not isinstance(data, dict) or not data:
        raise ConfigError("PRICES", 'must map model names to prices, e.g. {"MODEL": {...}}')
    models: dict[str, ModelPrices] = {}
    for model, prices in data.items():
        if not isinstance(prices, dict):
            raise ConfigError("PRICES", f"{model}: must map kinds to prices")
        per_million: dict[str, float] = {}
        for kind, price in prices.items():
            if kind not in (*TOKEN_KINDS, PER_MINUTE):
                raise ConfigError(
                    "PRICES",
                    f"{model}: unknown kind {kind!r}; the kinds are {', '.join(TOKEN_KINDS)} "
                    f"(USD per 1M tokens) and {PER_MINUTE} (USD per minute)",
                )
            if isinstance(price, bool) or not isinstance(price, int | float):
                raise ConfigError("PRICES", f"{model}.{kind}: must be a number, got {price!r}")
            if not math.isfinite(price) or price < 0:
                raise ConfigError("PRICES", f"{model}.{kind}: must be 0 or more, got {price}")
            per_million[kind] = float(price)
        per_minute = per_million.pop(PER_MINUTE, None)
        models[model] = ModelPrices(per_million, per_minute)
    return PriceTable(models)


def check_priced(table: PriceTable | None, model: str, variable: str) -> None:
    """A table that does not price the session's realtime model would estimate nothing."""
    if table is not None and model not in table.models:
        raise ConfigError(
            "PRICES",
            f"has no prices for {model!r}, the realtime model ({variable}): add an entry "
            f"named {model!r}",
        )
