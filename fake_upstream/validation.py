"""Client and server events checked against the ``openai`` package's typed Realtime models.

GA events are checked against ``openai.types.realtime``, beta ones against
``openai.types.beta.realtime``: each event's ``type`` selects its model, and pydantic validates
the fields. The fake upstream answers an invalid client event the way the real service does,
with an ``error`` event naming the parameter, and keeps the session open.
"""

from __future__ import annotations

import typing
from functools import cache
from typing import Any, Literal

import pydantic

DialectName = Literal["ga", "beta"]


class ClientEventError(Exception):
    def __init__(self, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


def _members(union: Any) -> list[type[pydantic.BaseModel]]:
    while typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    return [m for m in typing.get_args(union) if isinstance(m, type)]


def _by_type(union: Any) -> dict[str, type[pydantic.BaseModel]]:
    table: dict[str, type[pydantic.BaseModel]] = {}
    for model in _members(union):
        for literal in typing.get_args(model.model_fields["type"].annotation):
            table[literal] = model
    return table


@cache
def client_models(dialect: DialectName) -> dict[str, type[pydantic.BaseModel]]:
    if dialect == "ga":
        from openai.types.realtime import RealtimeClientEvent
    else:
        from openai.types.beta.realtime import RealtimeClientEvent  # type: ignore[no-redef]
    return _by_type(RealtimeClientEvent)


@cache
def server_models(dialect: DialectName) -> dict[str, type[pydantic.BaseModel]]:
    if dialect == "ga":
        from openai.types.realtime import RealtimeServerEvent
    else:
        from openai.types.beta.realtime import RealtimeServerEvent  # type: ignore[no-redef]
    return _by_type(RealtimeServerEvent)


def _first_error(exc: pydantic.ValidationError) -> tuple[str, str | None]:
    error = exc.errors()[0]
    param = ".".join(str(p) for p in error["loc"] if not isinstance(p, int)) or None
    return error["msg"], param


def validate_client_event(dialect: DialectName, event: dict[str, Any]) -> None:
    kind = event.get("type")
    model = client_models(dialect).get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ClientEventError(
            f"Invalid value: '{kind}'. Supported values are: "
            + ", ".join(f"'{k}'" for k in sorted(client_models(dialect)))
            + ".",
            "invalid_value",
            "type",
        )
    try:
        model.model_validate(event)
    except pydantic.ValidationError as exc:
        message, param = _first_error(exc)
        missing = exc.errors()[0]["type"] == "missing"
        raise ClientEventError(
            f"Missing required parameter: '{param}'."
            if missing
            else f"Invalid value for '{param}': {message}.",
            "missing_required_parameter" if missing else "invalid_value",
            param,
        ) from None


def validate_server_event(dialect: DialectName, event: dict[str, Any]) -> pydantic.BaseModel:
    """The typed model of ``event``; raises ``ValueError`` if it is not a valid server event."""
    kind = event.get("type")
    model = server_models(dialect).get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ValueError(f"{kind!r} is not a {dialect} server event type")
    return model.model_validate(event)
