"""Argument checks shared by every config and public function: type, range and finiteness, with errors that name the
field, the bad value and what is allowed.

Each check reads ``getattr(obj, name)`` when given an object and a field name, so config classes call
``check_number(self, "lp_reg_rho", low=0, high=1, low_open=True, high_open=True)``; functions pass a plain value with
`value=` (``check_number(None, "temperature", value=t, low=0, low_open=True)``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

__all__ = [
    "changed_fields",
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "check_optional_int",
    "check_optional_number",
    "check_str",
]

_MISSING = object()


def _read(obj: Any, name: str, value: Any) -> Any:
    return getattr(obj, name) if value is _MISSING else value


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return "a finite number"
    if high is None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return f"a finite number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_number(
    obj: Any,
    name: str,
    *,
    value: Any = _MISSING,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A real, finite number (``bool`` refused) within ``[low, high]`` (ends open when asked); returns it."""
    value = _read(obj, name, value)
    allowed = _range_text(low, high, low_open, high_open)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"`{name}` must be {allowed}, got {value!r} ({type(value).__name__}).")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}.")
    if low is not None and (number < low or (low_open and number == low)):
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}.")
    if high is not None and (number > high or (high_open and number == high)):
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}.")
    return number


def check_optional_number(obj: Any, name: str, *, value: Any = _MISSING, **bounds: Any) -> float | None:
    """`check_number`, with ``None`` allowed."""
    value = _read(obj, name, value)
    return None if value is None else check_number(obj, name, value=value, **bounds)


def check_int(obj: Any, name: str, *, value: Any = _MISSING, low: int | None = None, high: int | None = None) -> int:
    """An integer (``bool`` refused) within ``[low, high]``; returns it."""
    value = _read(obj, name, value)
    if low is not None and high is not None:
        allowed = f"an integer in [{low}, {high}]"
    elif low is not None:
        allowed = f"an integer >= {low}"
    elif high is not None:
        allowed = f"an integer <= {high}"
    else:
        allowed = "an integer"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"`{name}` must be {allowed}, got {value!r} ({type(value).__name__}).")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}.")
    return int(value)


def check_optional_int(obj: Any, name: str, *, value: Any = _MISSING, **bounds: Any) -> int | None:
    """`check_int`, with ``None`` allowed."""
    value = _read(obj, name, value)
    return None if value is None else check_int(obj, name, value=value, **bounds)


def check_str(obj: Any, name: str, *, value: Any = _MISSING, allow_none: bool = False) -> str | None:
    """A non-empty string (``None`` too with `allow_none`); returns it."""
    value = _read(obj, name, value)
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not value:
        extra = " or None" if allow_none else ""
        raise ValueError(f"`{name}` must be a non-empty string{extra}, got {value!r} ({type(value).__name__}).")
    return value


def changed_fields(obj: Any, names: Iterable[str]) -> list[str]:
    """The dataclass fields among `names` whose value differs from their declared default (for the "this setting has
    no effect in this mode" warnings)."""
    import dataclasses

    defaults = {}
    for f in dataclasses.fields(obj):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    return [n for n in names if n in defaults and getattr(obj, n) != defaults[n]]


def check_bool(obj: Any, name: str, *, value: Any = _MISSING) -> bool:
    """``True`` or ``False`` (not ``0`` / ``1`` / strings); returns it."""
    value = _read(obj, name, value)
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False, got {value!r} ({type(value).__name__}).")
    return value


def check_choice(obj: Any, name: str, choices: Iterable[Any], *, value: Any = _MISSING) -> Any:
    """One of ``choices``; returns it."""
    value = _read(obj, name, value)
    options = list(choices)
    if not isinstance(value, (str, int, float, type(None))) or value not in options:
        raise ValueError(f"`{name}` must be one of {options}, got {value!r}.")
    return value
