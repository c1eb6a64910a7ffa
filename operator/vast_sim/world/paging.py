"""Query parameters, ordering and `after_token` paging of `GET /api/v1/instances/`."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from vast_sim import instance_view
from vast_sim.errors import vast_error


def json_param(params: Mapping[str, str], name: str, default: Any) -> Any:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        if name == "select_cols":
            return [c.strip() for c in raw.split(",") if c.strip()]
        raise vast_error(400, "invalid_request", f"{name} must be valid JSON") from None


def instance_order(order_by: Any) -> list[tuple[str, bool]]:
    if isinstance(order_by, dict):
        order_by = [order_by]
    if not isinstance(order_by, list):
        raise vast_error(400, "invalid_request", "order_by must be a JSON array")
    order: list[tuple[str, bool]] = []
    for item in order_by:
        if isinstance(item, dict):
            col, direction = item.get("col"), str(item.get("dir") or "asc").lower()
        elif isinstance(item, (list, tuple)) and item:
            col, direction = item[0], str(item[1] if len(item) > 1 else "asc").lower()
        else:
            raise vast_error(400, "invalid_request", "order_by entries need a col")
        if col not in instance_view.INSTANCE_COLUMNS:
            raise vast_error(
                400, "invalid_request", f"Error in query parameters: {col} is not a valid order key"
            )
        if col not in (c for c, _ in order):
            order.append((str(col), direction == "desc"))
    if "id" not in (c for c, _ in order):
        order.append(("id", False))
    return order


def cmp_values(a: list[Any], b: list[Any], descending: list[bool]) -> int:
    for left, right, desc in zip(a, b, descending, strict=False):
        if left == right:
            continue
        if left is None:
            return 1
        if right is None:
            return -1
        try:
            less = left < right
        except TypeError:
            less = str(left) < str(right)
        result = -1 if less else 1
        return -result if desc else result
    return 0


def encode_token(values: list[Any], cols: list[str]) -> str:
    payload = json.dumps({"values": values, "cols": cols}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str, cols: list[str]) -> list[Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        values = data["values"]
        if data.get("cols") != cols or not isinstance(values, list) or len(values) != len(cols):
            raise ValueError("token does not match this ordering")
        return list(values)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise vast_error(400, "invalid_token", "Invalid after_token.") from None
