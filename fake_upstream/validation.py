"""Client and server events checked against the ``openai`` package's typed Realtime models.

GA events are checked against ``openai.types.realtime``, beta ones against
``openai.types.beta.realtime``: each event's ``type`` selects its model (the unions are
discriminated on ``type``), and pydantic checks the fields. Like the real service, a field the
model does not know is an error (``unknown_parameter``): that catches a relay mixing dialects.
Inside a field that is a union (an item, a tool), the error named is that of the member the
value's own ``type`` selects. The beta item model has every field optional: what the real
service requires of a function call (output) item is checked here.
Pure: no I/O. The engine turns :class:`ClientEventError` into an ``error`` event.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Sequence
from functools import cache
from typing import Any, Literal

import pydantic

DialectName = Literal["ga", "beta"]
_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# What the beta service requires of a created item of each type (its model says nothing).
BETA_ITEM_REQUIRED = {
    "function_call": ("call_id", "name", "arguments"),
    "function_call_output": ("call_id", "output"),
}


class ClientEventError(Exception):
    """A client event the real service would refuse; ``code`` and ``param`` as it names them."""

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
    """Client event type -> its model, for the dialect (imports the models on first use)."""
    if dialect == "ga":
        from openai.types.realtime import RealtimeClientEvent
    else:
        from openai.types.beta.realtime import RealtimeClientEvent
    return _by_type(RealtimeClientEvent)


@cache
def server_models(dialect: DialectName) -> dict[str, type[pydantic.BaseModel]]:
    if dialect == "ga":
        from openai.types.realtime import RealtimeServerEvent
    else:
        from openai.types.beta.realtime import RealtimeServerEvent
    return _by_type(RealtimeServerEvent)


def _param(loc: tuple[int | str, ...]) -> str | None:
    # pydantic's location also names union members ("RealtimeSessionCreateRequest"): skip them.
    parts = [p for p in loc if isinstance(p, str) and _FIELD_NAME.match(p)]
    return ".".join(parts) or None


def _unknown_parameter(model: pydantic.BaseModel, path: str = "") -> str | None:
    for key in model.model_extra or {}:
        return f"{path}{key}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        values = value if isinstance(value, list) else [value]
        for member in values:
            if isinstance(member, pydantic.BaseModel):
                found = _unknown_parameter(member, f"{path}{name}.")
                if found is not None:
                    return found
    return None


def validate_client_event(dialect: DialectName, event: dict[str, Any]) -> None:
    """Raise :class:`ClientEventError` if the real service would refuse ``event``."""
    kind = event.get("type")
    model = client_models(dialect).get(kind) if isinstance(kind, str) else None
    if model is None:
        supported = ", ".join(f"'{k}'" for k in sorted(client_models(dialect)))
        raise ClientEventError(
            f"Invalid value: '{kind}'. Supported values are: {supported}.", "invalid_value", "type"
        )
    try:
        parsed = model.model_validate(_as_modelled(dialect, event))
    except pydantic.ValidationError as exc:
        error = _named_error(exc.errors())
        param = _param(error["loc"])
        if error["type"] == "missing":
            raise ClientEventError(
                f"Missing required parameter: '{param}'.", "missing_required_parameter", param
            ) from None
        raise ClientEventError(
            f"Invalid value for '{param}': {error['msg']}.", "invalid_value", param
        ) from None
    unknown = _unknown_parameter(parsed)
    if unknown is not None:
        raise ClientEventError(f"Unknown parameter: '{unknown}'.", "unknown_parameter", unknown)
    item = event.get("item")
    if dialect == "beta" and kind == "conversation.item.create" and isinstance(item, dict):
        for key in BETA_ITEM_REQUIRED.get(str(item.get("type")), ()):
            if item.get(key) is None:
                param = f"item.{key}"
                raise ClientEventError(
                    f"Missing required parameter: '{param}'.", "missing_required_parameter", param
                )


def _named_error(errors: Sequence[Any]) -> Any:
    """The error to report: pydantic tries every member of a union, and reports each one's
    errors; those of a member whose ``type`` literal the value does not match are noise."""
    mismatched = [
        error
        for error in errors
        if error["type"] == "literal_error"
        and error["loc"][-1:] == ("type",)
        and len(error["loc"]) > 1
        and not _FIELD_NAME.match(str(error["loc"][-2]))
    ]
    wrong = [error["loc"][:-1] for error in mismatched]
    named = [e for e in errors if not any(e["loc"][: len(w)] == w for w in wrong)]
    if named or not wrong:
        return (named or errors)[0]
    # No member's type matches: name every type of the innermost union.
    deepest = max(mismatched, key=lambda error: len(error["loc"]))["loc"]
    union = [error for error in mismatched if error["loc"][:-2] == deepest[:-2]]
    expected = dict.fromkeys(str(error["ctx"]["expected"]) for error in union)
    return {
        "type": "literal_error",
        "loc": deepest,
        "msg": f"Input should be {' or '.join(expected)}",
    }


def turn_detection_off(dialect: DialectName, detection: Any) -> bool:
    """Whether a beta ``turn_detection`` is Azure's ``{"type": "none"}``: the openai package's
    beta model only knows ``null`` for "off", but Azure's preview (beta) deployments also accept
    ``{"type": "none"}``, and Microsoft's own client (rtclient) sends exactly that; a fake that
    refused it would fail every rtclient-shaped session that the real Azure accepts."""
    return dialect == "beta" and isinstance(detection, dict) and detection == {"type": "none"}


def _as_modelled(dialect: DialectName, event: dict[str, Any]) -> dict[str, Any]:
    """``event`` as the openai models can check it (Azure's spelling of "off" made ``null``)."""
    session = event.get("session")
    if event.get("type") == "session.update" and isinstance(session, dict):
        if turn_detection_off(dialect, session.get("turn_detection")):
            return {**event, "session": {**session, "turn_detection": None}}
    return event


def validate_server_event(dialect: DialectName, event: dict[str, Any]) -> pydantic.BaseModel:
    """The typed model of ``event``; raises ``ValueError`` if it is not a valid server event."""
    kind = event.get("type")
    model = server_models(dialect).get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ValueError(f"{kind!r} is not a {dialect} server event type")
    return model.model_validate(event)
