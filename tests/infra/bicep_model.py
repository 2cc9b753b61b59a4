"""Read the Bicep templates in infra/ with pycep (the parser checkov uses) and walk its output.

There is no Bicep compiler here, so these helpers stand in for the checks it would make that the
tests need: which resources exist, what their properties are, which module parameters are passed.

pycep's output is plain dicts. Identifiers (parameter, variable and resource names) and string
literals both come out as Python strings; expressions come out as ``{"function": ...}`` or
``{"operator": ...}`` dicts. :func:`resolve` replaces a string naming a variable by its value.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pycep

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
MAIN = INFRA / "main.bicep"
MODULES = INFRA / "modules"

# Built-in Azure role definition ids (the same in every tenant).
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
COGNITIVE_SERVICES_OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@functools.cache
def _parse(path: str) -> dict[str, Any]:
    return pycep.BicepParser().parse(file_path=Path(path))  # type: ignore[no-any-return]


def parse(path: Path) -> dict[str, Any]:
    """The pycep model of one Bicep file (parsed once per test session)."""
    return _parse(str(path.resolve()))


def module(name: str) -> dict[str, Any]:
    return parse(MODULES / f"{name}.bicep")


def resolve(model: dict[str, Any], node: Any) -> Any:
    """Follow variable references (a string naming a variable of ``model``) to their value."""
    variables = model.get("variables", {})
    seen = set()
    while isinstance(node, str) and node in variables and node not in seen:
        seen.add(node)
        node = variables[node]["value"]
    return node


def accessor(node: Any) -> list[str] | None:
    """``a.b.c`` (nested property_accessor operators) as ``["a", "b", "c"]``; None otherwise."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor":
        operands = node["operator"]["operands"]
        head = accessor(operands["operand_1"])
        tail = accessor(operands["operand_2"])
        if head is not None and tail is not None:
            return head + tail
    return None


def function(node: Any, name: str) -> dict[str, Any] | None:
    """The parameters of a call to function ``name`` (pycep's snake_case name), or None."""
    if isinstance(node, dict) and node.get("function", {}).get("type") == name:
        return node["function"]["parameters"]  # type: ignore[no-any-return]
    return None


def resources(model: dict[str, Any], type_: str, *, existing: bool = False) -> dict[str, Any]:
    """Resources of one type, by symbolic name (declared ones, or ``existing`` references)."""
    return {
        name: res
        for name, res in model.get("resources", {}).items()
        if res["type"] == type_ and bool(res.get("existing")) == existing
    }


def only(items: dict[str, Any]) -> tuple[str, Any]:
    assert len(items) == 1, f"expected exactly one, got {sorted(items)}"
    return next(iter(items.items()))


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's properties, looking through a conditional ``= if (...) { ... }``."""
    config = resource["config"]
    if "condition" in config and "config" in config:
        return config["config"]  # type: ignore[no-any-return]
    return config  # type: ignore[no-any-return]


def list_items(model: dict[str, Any], node: Any) -> list[tuple[Any, bool]]:
    """Items of an array expression: literals, variables, concat() and ``c ? [..] : [..]``.

    Each item comes with ``conditional``: True if it is there only on one side of a ternary.
    """
    node = resolve(model, node)
    if isinstance(node, list):
        return [(item, False) for item in node]
    concat = function(node, "concat")
    if concat is not None:
        items: list[tuple[Any, bool]] = []
        for arg in concat.values():
            items.extend(list_items(model, arg))
        return items
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "conditional":
        operands = node["operator"]["operands"]
        branches = list_items(model, operands["true_value"]) + list_items(
            model, operands["false_value"]
        )
        return [(item, True) for item, _ in branches]
    raise AssertionError(f"not an array expression: {node!r}")


def decorators(param: dict[str, Any]) -> dict[str, Any]:
    """A parameter's decorators as ``{type: argument}`` (``secure`` maps to None)."""
    return {d["type"]: d.get("argument") for d in param.get("decorators", [])}
