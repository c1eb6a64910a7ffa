"""Coercion and validation of request parameters shared by the API areas."""

from __future__ import annotations

import re
from typing import Any

from vast_sim.errors import vast_error

VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9_]{1,64}$")


def num(value: Any, name: str, *, default: float | None = None, minimum: float = 0.0) -> float:
    if value is None:
        if default is None:
            raise vast_error(400, "invalid_args", f"{name} is required")
        return default
    if isinstance(value, bool):
        raise vast_error(400, "invalid_args", f"{name} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise vast_error(400, "invalid_args", f"{name} must be a number") from None
    if number < minimum:
        raise vast_error(400, "invalid_args", f"{name} must be >= {minimum:g}")
    return number


def int_id(value: Any, what: str = "id") -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise vast_error(400, "invalid_args", f"invalid {what}") from None
    return number


def opt_num(value: Any, name: str, default: float | None) -> float | None:
    return default if value is None else num(value, name)


def opt_int(value: Any, name: str) -> int | None:
    return None if value is None else int(num(value, name))
