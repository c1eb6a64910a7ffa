"""The query of `GET /api/v1/instances/`: its parameters, ordering and `after_token` paging."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vast_sim import instance_view
from vast_sim.errors import vast_error
from vast_sim.models import JSONDict
from vast_sim.query import Predicate, QueryError, compile_offer_filters

MAX_PAGE = 25
EMPTY_PAGE_LIMIT = 5


@dataclass
class ListQuery:
    """A parsed instance-list query: which rows, in what order, which page, which columns."""

    predicates: list[Predicate]
    order: list[tuple[str, bool]]
    limit: int
    select_cols: list[Any]
    token: str | None

    def sort_key(self, cols: JSONDict) -> list[Any]:
        return [cols.get(col) for col, _ in self.order]

    def page_start(self, rows: list[JSONDict]) -> int:
        """Index of the first sorted row after the token's position (0 without a token)."""
        if not self.token:
            return 0
        after = decode_token(self.token, [col for col, _ in self.order])
        dirs = [desc for _, desc in self.order]
        for index, row in enumerate(rows):
            if cmp_values(self.sort_key(row), after, dirs) > 0:
                return index
        return len(rows)

    def next_token(self, last: JSONDict) -> str:
        return encode_token(self.sort_key(last), [c for c, _ in self.order])

    def select(self, rows: list[JSONDict]) -> list[JSONDict]:
        if "*" in self.select_cols:
            return rows
        return [{col: row.get(col) for col in self.select_cols} for row in rows]


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """select_filters, order_by, limit, after_token and select_cols; 400 when invalid."""
    filters = json_param(params, "select_filters", {})
    order_by = json_param(params, "order_by", [{"col": "id", "dir": "asc"}])
    select_cols = json_param(params, "select_cols", ["*"])
    if not isinstance(filters, dict):
        raise vast_error(400, "invalid_request", "select_filters must be a JSON object")
    for name in filters:
        if name not in instance_view.INSTANCE_COLUMNS:
            raise vast_error(
                400,
                "invalid_request",
                f"Error in query parameters: {name} is not a valid search key",
            )
    order = instance_order(order_by)
    try:
        limit = int(params.get("limit", str(MAX_PAGE)))
    except ValueError:
        raise vast_error(400, "invalid_request", "limit must be an integer") from None
    limit = EMPTY_PAGE_LIMIT if limit <= 0 else min(limit, MAX_PAGE)
    if isinstance(select_cols, str):
        select_cols = [select_cols]
    if not isinstance(select_cols, list):
        raise vast_error(400, "invalid_request", "select_cols must be a JSON array")
    try:
        predicates = compile_offer_filters(filters)
    except QueryError as exc:
        raise vast_error(400, "invalid_request", exc.msg) from None
    return ListQuery(predicates, order, limit, select_cols, params.get("after_token"))


def label_counts(rows: list[JSONDict]) -> dict[str, int]:
    """How many rows carry each label ("" for none)."""
    counts: dict[str, int] = {}
    for row in rows:
        key = row["label"] if row["label"] is not None else ""
        counts[key] = counts.get(key, 0) + 1
    return counts


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
