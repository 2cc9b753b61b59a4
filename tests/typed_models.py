"""Checking events against the ``openai`` package's typed models, for every test that does."""

from __future__ import annotations

import pydantic


def undeclared_fields(model: pydantic.BaseModel, path: str = "") -> list[str]:
    """Dotted paths of the fields in ``model`` (and its nested models) that its class does not
    declare: the openai models accept extra fields, so validation alone would not catch them."""
    found = [f"{path}{key}" for key in model.model_extra or {}]
    for name in type(model).model_fields:
        value = getattr(model, name)
        for member in value if isinstance(value, list) else [value]:
            if isinstance(member, pydantic.BaseModel):
                found += undeclared_fields(member, f"{path}{name}.")
    return found
