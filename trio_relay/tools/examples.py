"""Example tools, offline and deterministic (``TOOLS=trio_relay.tools.examples``; the offline
demo enables them): the time in a time zone, a unit conversion, a dice roll."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from . import ToolError, tool

# value in the unit * factor = value in the base unit of its dimension
_UNITS: dict[str, tuple[str, float]] = {
    "m": ("length", 1.0),
    "km": ("length", 1000.0),
    "cm": ("length", 0.01),
    "mm": ("length", 0.001),
    "mi": ("length", 1609.344),
    "ft": ("length", 0.3048),
    "in": ("length", 0.0254),
    "yd": ("length", 0.9144),
    "kg": ("mass", 1.0),
    "g": ("mass", 0.001),
    "lb": ("mass", 0.45359237),
    "oz": ("mass", 0.028349523125),
    "l": ("volume", 1.0),
    "ml": ("volume", 0.001),
    "gal": ("volume", 3.785411784),
}
_ALIASES = {
    "meter": "m", "meters": "m", "metre": "m", "metres": "m",
    "kilometer": "km", "kilometers": "km", "kilometre": "km", "kilometres": "km",
    "centimeter": "cm", "centimeters": "cm", "millimeter": "mm", "millimeters": "mm",
    "mile": "mi", "miles": "mi", "foot": "ft", "feet": "ft", "inch": "in", "inches": "in",
    "yard": "yd", "yards": "yd", "kilogram": "kg", "kilograms": "kg", "kilo": "kg",
    "kilos": "kg", "gram": "g", "grams": "g", "pound": "lb", "pounds": "lb", "lbs": "lb",
    "ounce": "oz", "ounces": "oz", "liter": "l", "liters": "l", "litre": "l", "litres": "l",
    "milliliter": "ml", "milliliters": "ml", "gallon": "gal", "gallons": "gal",
}  # fmt: skip
_TEMPERATURES = {"c": "c", "celsius": "c", "f": "f", "fahrenheit": "f", "k": "k", "kelvin": "k"}


@tool
def get_time(timezone: str) -> dict[str, str]:
    """The current local time in a time zone.

    Args:
        timezone: an IANA time zone name, e.g. "Asia/Tokyo", "Europe/London" or "UTC".
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"unknown time zone {timezone!r}; use an IANA name like 'Asia/Tokyo'"
        ) from None
    now = datetime.now(zone)
    return {"timezone": timezone, "time": now.strftime("%H:%M"), "date": now.date().isoformat()}


@tool
def convert_units(value: float, from_unit: str, to_unit: str) -> dict[str, float | str]:
    """Convert a quantity between units of length, mass, volume or temperature.

    Args:
        value: the quantity to convert.
        from_unit: its unit, e.g. "km", "miles", "lb", "celsius".
        to_unit: the unit wanted.
    """
    source, target = _unit(from_unit), _unit(to_unit)
    if source in _TEMPERATURES.values() or target in _TEMPERATURES.values():
        if not (source in _TEMPERATURES.values() and target in _TEMPERATURES.values()):
            raise ToolError(f"cannot convert {from_unit} to {to_unit}")
        result = _from_kelvin(_to_kelvin(value, source), target)
    else:
        (dimension, factor), (wanted, to_factor) = _UNITS[source], _UNITS[target]
        if dimension != wanted:
            raise ToolError(f"cannot convert {dimension} ({from_unit}) to {wanted} ({to_unit})")
        result = value * factor / to_factor
    return {"value": value, "from_unit": from_unit, "to_unit": to_unit, "result": round(result, 4)}


@tool
def roll_dice(
    sides: Annotated[int, Field(ge=2, le=1000)] = 6, count: Annotated[int, Field(ge=1, le=20)] = 1
) -> dict[str, object]:
    """Roll dice, e.g. one six-sided die, or two twenty-sided ones.

    Args:
        sides: faces on each die.
        count: how many dice.
    """
    # Seeded by the minute and the request: repeatable in a test, different from turn to turn.
    minute = datetime.now().strftime("%Y%m%d%H%M")
    seed = hashlib.sha256(f"{minute}:{sides}:{count}".encode()).digest()
    dice = random.Random(seed)
    rolls = [dice.randint(1, sides) for _ in range(count)]
    return {"sides": sides, "rolls": rolls, "total": sum(rolls)}


def _unit(name: str) -> str:
    key = name.strip().lower().rstrip(".")
    key = _ALIASES.get(key, key)
    key = _TEMPERATURES.get(key, key)
    if key not in _UNITS and key not in _TEMPERATURES.values():
        raise ToolError(f"unknown unit {name!r}")
    return key


def _to_kelvin(value: float, unit: str) -> float:
    return {"c": value + 273.15, "f": (value - 32) * 5 / 9 + 273.15, "k": value}[unit]


def _from_kelvin(value: float, unit: str) -> float:
    return {"c": value - 273.15, "f": (value - 273.15) * 9 / 5 + 32, "k": value}[unit]
