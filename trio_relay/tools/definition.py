"""A tool the model may call: a typed Python function, its JSON Schema, and the checks around a
call. Pure: no I/O, no tasks (running a call is :mod:`trio_relay.tools.runner`'s job).

The schema is pydantic's, derived from the function's signature: type hints give the types
(``Annotated[..., Field(...)]`` adds constraints), defaults make a parameter optional, and the
docstring gives the description the model sees; a Google-style ``Args:`` section in it describes
the parameters. Arguments from the model are validated by the same pydantic model before the
call, so a function never sees arguments its hints do not allow.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pydantic
import pydantic_core

# OpenAI's rule for function names.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOOL_ATTRIBUTE = "__trio_relay_tool__"
_ARGS_HEADINGS = ("args:", "arguments:", "parameters:")
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
# How much of a pydantic complaint an error output quotes per problem, and how many problems.
_MAX_PROBLEMS = 5

ToolFunction = Callable[..., Any] | Callable[..., Awaitable[Any]]


class ToolDefinitionError(TypeError):
    """A ``@tool`` function the relay cannot offer to the model (raised at import time)."""


class ToolError(Exception):
    """Raise it in a tool to tell the model, in your own words, why the call did not work
    ("no order with that id"); its message is the call's error output. Any other exception is
    logged with its traceback and the model hears only that the tool failed."""


class InvalidArguments(ValueError):
    """The model's arguments for a call do not fit the tool's parameters; the message says
    what was wrong, in words the model can act on."""


@attrs.frozen
class Tool:
    name: str
    description: str
    function: ToolFunction = attrs.field(repr=False)
    parameters: dict[str, Any] = attrs.field(repr=False)  # the JSON Schema
    _arguments: type[pydantic.BaseModel] = attrs.field(repr=False, alias="arguments_model")
    is_async: bool = False

    def declaration(self) -> dict[str, Any]:
        """The ``session.tools`` entry (the same shape in both Realtime dialects)."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }

    def parse_arguments(self, arguments: str) -> dict[str, Any]:
        """The model's ``arguments`` (a JSON text) as keyword arguments for the function, or
        :class:`InvalidArguments`."""
        try:
            parsed = self._arguments.model_validate_json(arguments or "{}")
        except pydantic.ValidationError as exc:
            raise InvalidArguments(_explain(exc)) from None
        return {field: getattr(parsed, field) for field in type(parsed).model_fields}


def tool(
    function: ToolFunction | None = None, *, name: str | None = None, description: str | None = None
) -> Any:
    """Offer ``function`` to the model as a tool; ``@tool`` or ``@tool(name=..., description=...)``.

    The function is returned unchanged (callable as before); the module that defines it is
    named in ``TOOLS``. An ``async def`` runs in the session's nursery, a plain ``def`` in a
    worker thread."""

    def register(target: ToolFunction) -> ToolFunction:
        setattr(target, TOOL_ATTRIBUTE, define_tool(target, name=name, description=description))
        return target

    return register if function is None else register(function)


def define_tool(
    function: ToolFunction, *, name: str | None = None, description: str | None = None
) -> Tool:
    """The :class:`Tool` for ``function`` (what ``@tool`` attaches), or
    :class:`ToolDefinitionError` saying what to change."""
    tool_name: str = name or str(getattr(function, "__name__", ""))
    where = f"@tool {getattr(function, '__qualname__', tool_name)!s}"
    if not NAME_PATTERN.match(tool_name):
        raise ToolDefinitionError(
            f"{where}: the name {tool_name!r} must be 1-64 letters, digits, '_' or '-'"
        )
    summary, argument_docs = _split_docstring(inspect.getdoc(function) or "")
    text = (description or summary).strip()
    if not text:
        raise ToolDefinitionError(
            f"{where}: give it a docstring (or description=...): it is what the model reads "
            "to decide when to call it"
        )
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as exc:  # a hint naming something that does not exist
        raise ToolDefinitionError(f"{where}: its type hints cannot be resolved ({exc})") from None
    fields: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ToolDefinitionError(f"{where}: *args and **kwargs cannot be described to a model")
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise ToolDefinitionError(f"{where}: parameter {parameter.name!r} is positional-only")
        if parameter.name not in hints:
            raise ToolDefinitionError(f"{where}: parameter {parameter.name!r} needs a type hint")
        default = ... if parameter.default is parameter.empty else parameter.default
        doc = argument_docs.get(parameter.name)
        field = pydantic.Field(default, description=doc) if doc else default
        fields[parameter.name] = (hints[parameter.name], field)
    try:
        model = pydantic.create_model(  # type: ignore[call-overload]
            f"{tool_name}_arguments", __config__=pydantic.ConfigDict(extra="forbid"), **fields
        )
        schema = _untitled(model.model_json_schema())
    except (pydantic.PydanticUserError, pydantic_core.SchemaError, TypeError) as exc:
        raise ToolDefinitionError(f"{where}: its parameters have no JSON Schema ({exc})") from None
    return Tool(
        name=tool_name,
        description=text,
        function=function,
        parameters=schema,
        is_async=inspect.iscoroutinefunction(function),
        arguments_model=model,
    )


def encode_output(value: Any) -> str:
    """What a tool returned, as the ``output`` text the model reads: a string as it is,
    anything else as JSON (pydantic's encoder: models, dataclasses, dates...)."""
    if isinstance(value, str):
        return value
    try:
        return pydantic_core.to_json(value).decode("utf-8")
    except pydantic_core.PydanticSerializationError as exc:
        raise TypeError(f"the tool returned a value that is not JSON-serialisable ({exc})") from exc


def _split_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The description before an ``Args:`` section, and the section's ``name: text`` entries
    (continuation lines joined)."""
    lines = doc.splitlines()
    headings = [i for i, line in enumerate(lines) if line.strip().lower() in _ARGS_HEADINGS]
    if not headings:
        return doc, {}
    index = headings[0]
    described: dict[str, str] = {}
    current: str | None = None
    for line in lines[index + 1 :]:
        if not line.strip():
            current = None
            continue
        match = _ARG_LINE.match(line)
        if match and (current is None or len(line) - len(line.lstrip()) <= 4):
            current = match.group(1).lstrip("*")
            described[current] = match.group(2).strip()
        elif current is not None:
            described[current] = f"{described[current]} {line.strip()}".strip()
        else:
            break  # the section ended (e.g. "Returns:")
    return "\n".join(lines[:index]).strip(), described


def _untitled(schema: Any) -> Any:
    """pydantic's schema without its ``title`` keys (noise to the model); a *property* named
    ``title`` is kept."""
    if isinstance(schema, list):
        return [_untitled(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):
            cleaned[key] = {name: _untitled(sub) for name, sub in value.items()}
        else:
            cleaned[key] = _untitled(value)
    return cleaned


def _explain(exc: pydantic.ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False)[:_MAX_PROBLEMS]:
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        problems.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(problems)
    if more > 0:
        problems.append(f"and {more} more")
    return "invalid arguments: " + "; ".join(problems)
