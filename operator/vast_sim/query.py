"""Evaluation of Vast's search query objects, ordering, and the CLI query-string syntax.

A query object is `{"<field>": {"<op>": value, ...}, ..., "order": [[field, dir]], "type": ...,
"limit": N, "allocated_storage": GiB}`. Values may arrive as JSON strings even for numeric fields
(the CLI sends `"num_gpus": {"gte": "2"}`), so every comparison coerces the query value to the
type of the row value. `parse_cli_query` mirrors the CLI's `parse_query` so the simulator can
understand workergroup `search_params` strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from vast_sim.models import JSONDict

OPERATORS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "in", "notin", "nin"})

# Keys of a search body that are directives, not filters.
OFFER_DIRECTIVES = frozenset(
    {
        "order",
        "type",
        "limit",
        "allocated_storage",
        "disable_bundling",
        "target_reliability",
        "extra_ids",
        "sort_option",
        "show_incompatible",
        "gpu_option",
        "template_id",
        "select_cols",
        "georegion",
        "chunked",
    }
)

OFFER_ALIASES = {
    "cuda_vers": "cuda_max_good",
    "display_active": "gpu_display_active",
    "dlperf_usd": "dlperf_per_dphtotal",
    "dph": "dph_total",
    "flops_usd": "flops_per_dphtotal",
}

OFFER_MULTIPLIERS = {
    "cpu_ram": 1000.0,
    "gpu_ram": 1000.0,
    "gpu_total_ram": 1000.0,
    "duration": 86400.0,
}

Getter = Callable[[JSONDict], Any]


class QueryError(ValueError):
    """A query the server refuses (answered with HTTP 400)."""

    def __init__(self, msg: str, error: str = "invalid_request") -> None:
        super().__init__(msg)
        self.msg = msg
        self.error = error


def country_code(geolocation: str | None) -> str | None:
    if not geolocation:
        return None
    return geolocation.rsplit(",", 1)[-1].strip()


def numeric_version(version: str) -> int | None:
    """'535.86.05' -> 535086005, the integer form the CLI sends for driver_version."""
    parts = version.strip().split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    major, minor, patch = (int(p) for p in parts)
    return major * 1_000_000 + minor * 1000 + patch


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
    return None


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value in ("null", "None"))


def _coerce(sample: Any, value: Any) -> Any:
    """The query value in the type of the row value, or None when it cannot be converted."""
    if isinstance(sample, bool):
        return _to_bool(value)
    if isinstance(sample, (int, float)):
        return _to_float(value)
    if isinstance(sample, str):
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    return value


def _equal(row_value: Any, query_value: Any) -> bool:
    if _is_null(query_value):
        return row_value is None
    if row_value is None:
        return False
    coerced = _coerce(row_value, query_value)
    if coerced is None:
        return False
    if isinstance(coerced, float):
        return abs(float(row_value) - coerced) < 1e-9
    return bool(row_value == coerced)


def _compare(row_value: Any, op: str, query_value: Any) -> bool:
    if op == "eq":
        return _equal(row_value, query_value)
    if op == "neq":
        return not _equal(row_value, query_value)
    if op in ("in", "notin", "nin"):
        values = query_value if isinstance(query_value, (list, tuple)) else [query_value]
        found = any(_equal(row_value, v) for v in values)
        return found if op == "in" else not found
    if row_value is None or _is_null(query_value):
        return False
    coerced = _coerce(row_value, query_value)
    if coerced is None:
        return False
    left: Any = float(row_value) if isinstance(row_value, (int, float)) else row_value
    if op == "gt":
        return bool(left > coerced)
    if op == "gte":
        return bool(left >= coerced)
    if op == "lt":
        return bool(left < coerced)
    if op == "lte":
        return bool(left <= coerced)
    raise QueryError(f"Unknown operator {op}")


def _geo_compare(row_value: Any, op: str, query_value: Any) -> bool:
    """geolocation matches either the full text or its trailing two-letter country code."""

    def eq(v: Any) -> bool:
        if _is_null(v):
            return row_value is None
        if row_value is None:
            return False
        text = str(v).strip()
        return text == row_value or text.upper() == (country_code(row_value) or "").upper()

    if op == "eq":
        return eq(query_value)
    if op == "neq":
        return not eq(query_value)
    if op in ("in", "notin", "nin"):
        values = query_value if isinstance(query_value, (list, tuple)) else [query_value]
        found = any(eq(v) for v in values)
        return found if op == "in" else not found
    return _compare(row_value, op, query_value)


def _driver_compare(row: JSONDict, op: str, query_value: Any) -> bool:
    """driver_version: dotted strings and MMMmmmppp integers both compare as versions."""
    target: Any = query_value
    if isinstance(query_value, str) and "." in query_value:
        target = numeric_version(query_value)
    elif isinstance(query_value, (list, tuple)):
        target = [numeric_version(v) if isinstance(v, str) and "." in v else v for v in query_value]
    return _compare(row.get("driver_vers"), op, target)


Predicate = Callable[[JSONDict], bool]


def _offer_getter(field: str) -> Getter:
    if field == "verified":
        return lambda row: row.get("verification") == "verified"
    if field == "datacenter":
        return lambda row: row.get("hosting_type") == 1
    if field == "ubuntu_version":
        return lambda row: row.get("os_version")
    return lambda row: row.get(field)


def compile_offer_filters(query: JSONDict) -> list[Predicate]:
    """Predicates for every filter in an offer search body (directives are skipped).

    Fields the simulator does not know are ignored, as a lenient server would.
    """
    predicates: list[Predicate] = []
    for raw_field, cond in query.items():
        if raw_field in OFFER_DIRECTIVES:
            continue
        field = OFFER_ALIASES.get(raw_field, raw_field)
        conditions = cond if isinstance(cond, dict) else {"eq": cond}
        for op, value in conditions.items():
            if op not in OPERATORS:
                raise QueryError(f"Invalid query: unknown operator {op!r} for {raw_field}")
            predicates.append(_offer_predicate(field, op, value))
    return predicates


def _offer_predicate(field: str, op: str, value: Any) -> Predicate:
    if field == "geolocation":
        return lambda row: _geo_compare(row.get("geolocation"), op, value)
    if field == "driver_version":
        return lambda row: _driver_compare(row, op, value)
    getter = _offer_getter(field)

    def predicate(row: JSONDict) -> bool:
        if field not in row and field not in ("verified", "datacenter", "ubuntu_version"):
            return True
        return _compare(getter(row), op, value)

    return predicate


def filter_rows(rows: Iterable[JSONDict], predicates: Sequence[Predicate]) -> list[JSONDict]:
    return [row for row in rows if all(p(row) for p in predicates)]


def parse_offer_order(order: Any, default: list[list[str]] | None = None) -> list[tuple[str, bool]]:
    """`[[field, "asc"|"desc"], ...]` -> [(field, descending)]. Accepts a bare pair too."""
    if order is None:
        order = default or []
    if isinstance(order, str):
        order = [[order, "asc"]]
    if (
        isinstance(order, (list, tuple))
        and len(order) == 2
        and all(isinstance(x, str) for x in order)
        and order[1].lower() in ("asc", "desc")
    ):
        order = [order]
    if not isinstance(order, (list, tuple)):
        raise QueryError("Invalid query: order must be a list of [field, direction] pairs")
    parsed: list[tuple[str, bool]] = []
    for item in order:
        if isinstance(item, str):
            parsed.append((OFFER_ALIASES.get(item, item), False))
            continue
        if not isinstance(item, (list, tuple)) or not item:
            raise QueryError("Invalid query: order must be a list of [field, direction] pairs")
        field = str(item[0])
        direction = str(item[1]).lower() if len(item) > 1 else "asc"
        parsed.append((OFFER_ALIASES.get(field, field), direction == "desc"))
    return parsed


def _sort_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return value
    return str(value)


def sort_rows(
    rows: list[JSONDict],
    order: Sequence[tuple[str, bool]],
    getter: Callable[[JSONDict, str], Any] | None = None,
) -> list[JSONDict]:
    """Stable multi-key sort; missing/None values always sort last."""
    get = getter or (lambda row, field: row.get(field))
    result = list(rows)
    for field, descending in reversed(order):
        present = [r for r in result if get(r, field) is not None]
        missing = [r for r in result if get(r, field) is None]
        present.sort(key=lambda r: _sort_value(get(r, field)), reverse=descending)
        result = present + missing
    return result


def parse_limit(value: Any, default: int) -> int:
    if value is None:
        return default
    number = _to_float(value)
    if number is None:
        raise QueryError(f"Invalid query: limit must be an integer, got {value!r}")
    return int(number)


# --- CLI query-string syntax (workergroup search_params) ---------------------------------------

_CLI_PATTERN = re.compile(
    r"([a-zA-Z0-9_]+)( *[=><!]+| +(?:[lg]te?|nin|neq|eq|not ?eq|not ?in|in) )?( *)"
    r"(\[[^\]]+\]|\"[^\"]+\"|[^ ]+)?( *)"
)
_CLI_OPS = {
    ">=": "gte",
    ">": "gt",
    "gt": "gt",
    "gte": "gte",
    "<=": "lte",
    "<": "lt",
    "lt": "lt",
    "lte": "lte",
    "!=": "neq",
    "==": "eq",
    "=": "eq",
    "eq": "eq",
    "neq": "neq",
    "noteq": "neq",
    "not eq": "neq",
    "notin": "notin",
    "not in": "notin",
    "nin": "notin",
    "in": "in",
}


def parse_cli_query(text: str) -> JSONDict:
    """Parse the CLI query syntax into a query object.

    'gpu_name=RTX_4090 num_gpus>=2' -> {"gpu_name": {"eq": "RTX 4090"}, "num_gpus": {"gte": "2"}}.
    Same grammar and conversions as the vastai CLI's `parse_query`.
    """
    text = text.strip()
    result: JSONDict = {}
    if not text:
        return result
    matches = _CLI_PATTERN.findall(text)
    if "".join("".join(m) for m in matches) != text:
        raise QueryError(f"Invalid query string: {text!r}", error="invalid_args")
    for raw_field, raw_op, _, raw_value, _ in matches:
        field = OFFER_ALIASES.get(raw_field, raw_field)
        op = _CLI_OPS.get(raw_op.strip())
        if op is None:
            raise QueryError(f"Invalid query string: unknown operator in {text!r}", "invalid_args")
        value_text = raw_value.strip(",[]")
        if not value_text:
            raise QueryError(f"Invalid query string: blank value for {field}", "invalid_args")
        conditions = result.setdefault(field, {})
        if value_text in ("?", "*", "any"):
            result.pop(field, None)
            continue
        value: Any
        if field == "driver_version" and "." in value_text:
            value = numeric_version(value_text)
        elif op in ("in", "notin"):
            value = [
                x.strip().replace("_", " ").strip('"') for x in value_text.split(",") if x.strip()
            ]
        else:
            text_value = value_text.replace("_", " ").strip('"')
            if field in OFFER_MULTIPLIERS:
                number = _to_float(text_value)
                if number is None:
                    raise QueryError(
                        f"Invalid query string: {field} needs a number", "invalid_args"
                    )
                value = number * OFFER_MULTIPLIERS[field]
            elif text_value in ("true", "True"):
                value = True
            elif text_value in ("false", "False"):
                value = False
            elif text_value in ("None", "null"):
                value = None
            else:
                value = text_value
        conditions[op] = value
    return result
