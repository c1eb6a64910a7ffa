"""Offer queries: the search body of `POST /api/v0/bundles/` and `POST /api/v0/volumes/search/`.

A query is a set of field conditions (`{"num_gpus": {"gte": 2}}`), an `order` as
`[[field, "asc"|"desc"]]`, a rental `type`, an optional `limit` and the `allocated_storage` used
to price disk into `dph_total` (https://docs.vast.ai/api). `OfferQuery` starts with the API
layer's default filters (verified, not external, rentable, not rented); `without()` drops any of
them and `OfferQuery.bare()` starts from nothing.

The server may return offers that do not satisfy the query, so `offer_matches()`
re-checks an offer on the client side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .models import Offer, VolumeOffer, country_code

__all__ = [
    "DEFAULT_OFFER_FILTERS",
    "DEFAULT_VOLUME_FILTERS",
    "Direction",
    "OfferQuery",
    "OfferType",
    "Op",
    "VolumeOfferQuery",
    "offer_matches",
]

Op = Literal["eq", "neq", "gt", "gte", "lt", "lte", "in", "notin"]
OfferType = Literal["on-demand", "bid", "reserved"]
Direction = Literal["asc", "desc"]
Conditions = dict[str, dict[Op, Any]]

OPS: frozenset[str] = frozenset(get_args(Op))

DEFAULT_OFFER_FILTERS: Mapping[str, Mapping[Op, Any]] = {
    "verified": {"eq": True},
    "external": {"eq": False},
    "rentable": {"eq": True},
    "rented": {"eq": False},
}
DEFAULT_VOLUME_FILTERS: Mapping[str, Mapping[Op, Any]] = {
    "verified": {"eq": True},
    "external": {"eq": False},
    "disk_space": {"gte": 1},
}

# The `vastai` CLI's aliases for offer fields, applied when matching client-side.
FIELD_ALIASES: Mapping[str, str] = {
    "cuda_vers": "cuda_max_good",
    "display_active": "gpu_display_active",
    "dlperf_usd": "dlperf_per_dphtotal",
    "dph": "dph_total",
    "flops_usd": "flops_per_dphtotal",
}

# Fields the `vastai` CLI query language multiplies (GB → MB, days → seconds).
CLI_MULTIPLIERS: Mapping[str, float] = {
    "cpu_ram": 1000.0,
    "gpu_ram": 1000.0,
    "gpu_total_ram": 1000.0,
    "duration": 86400.0,
}
_CLI_OPS: Mapping[str, str] = {
    "eq": "=",
    "neq": "!=",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "in": " in ",
    "notin": " notin ",
}


def _copy_conditions(source: Mapping[str, Mapping[Op, Any]]) -> Conditions:
    return {name: dict(ops) for name, ops in source.items()}


class _ConditionQuery(BaseModel):
    """Field conditions + order + limit + allocated_storage; immutable, edited by copies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    conditions: Conditions = Field(default_factory=dict)
    order: tuple[tuple[str, Direction], ...] = (("score", "desc"),)
    limit: int | None = Field(default=None, ge=1)
    allocated_storage: float | None = Field(default=None, ge=0)

    @field_validator("conditions")
    @classmethod
    def _valid_ops(cls, value: Conditions) -> Conditions:
        for name, ops in value.items():
            if not ops:
                raise ValueError(f"{name}: no operator")
            for op, operand in ops.items():
                if op in ("in", "notin") and not isinstance(operand, list | tuple):
                    raise ValueError(f"{name}: {op} needs a list")
        return value

    @classmethod
    def bare(cls, **kwargs: Any) -> Self:
        """A query without the default filters."""
        return cls(conditions={}, **kwargs)

    def where(self, field: str, op: Op, value: Any) -> Self:
        """A copy with one more condition (several ops per field combine: gte + lt = range)."""
        if op not in OPS:
            raise ValueError(f"unknown operator {op!r}")
        if op in ("in", "notin"):
            if not isinstance(value, list | tuple | set | frozenset):
                raise ValueError(f"{field}: {op} needs a list")
            value = list(value)
        conditions = _copy_conditions(self.conditions)
        conditions.setdefault(field, {})[op] = value
        return self.model_copy(update={"conditions": conditions})

    def without(self, *fields: str) -> Self:
        """A copy without any condition on `fields` (this is how a default filter is dropped)."""
        conditions = {k: dict(v) for k, v in self.conditions.items() if k not in fields}
        return self.model_copy(update={"conditions": conditions})

    def ordered_by(self, *order: tuple[str, Direction]) -> Self:
        return self.model_copy(update={"order": tuple(order)})

    def with_limit(self, limit: int | None) -> Self:
        return self.model_copy(update={"limit": limit})

    def to_body(self) -> dict[str, Any]:
        """The JSON body Vast expects: conditions at the top level beside the directives."""
        body: dict[str, Any] = _copy_conditions(self.conditions)
        for key, ops in body.items():
            body[key] = {op: list(v) if isinstance(v, tuple) else v for op, v in ops.items()}
        body["order"] = [[name, direction] for name, direction in self.order]
        if self.limit is not None:
            body["limit"] = self.limit
        if self.allocated_storage is not None:
            body["allocated_storage"] = self.allocated_storage
        return body


class OfferQuery(_ConditionQuery):
    """The search body of `POST /api/v0/bundles/`.

    >>> OfferQuery().where("gpu_name", "in", ["RTX 4090"]).where("num_gpus", "gte", 2).to_body()
    ... # doctest: +SKIP
    """

    conditions: Conditions = Field(default_factory=lambda: _copy_conditions(DEFAULT_OFFER_FILTERS))
    type: OfferType = "on-demand"
    allocated_storage: float | None = Field(default=5.0, ge=0)

    def to_body(self) -> dict[str, Any]:
        body = super().to_body()
        body["type"] = self.type
        return body

    def to_search_params(self) -> str:
        """The conditions in the CLI query language, for a workergroup's `search_params`.

        Default filters that still hold their default value are left out (the workergroup
        request appends the CLI's own defaults). Inverse of the CLI's `parse_query`:
        MB fields go back to GB, spaces in strings become `_`.
        """
        tokens: list[str] = []
        for name, ops in self.conditions.items():
            if DEFAULT_OFFER_FILTERS.get(name) == ops:
                continue
            for op, value in ops.items():
                tokens.append(f"{name}{_CLI_OPS[op]}{_cli_value(name, value)}")
        return " ".join(tokens)


class VolumeOfferQuery(_ConditionQuery):
    """The search body of `POST /api/v0/volumes/search/` (no `type`)."""

    conditions: Conditions = Field(default_factory=lambda: _copy_conditions(DEFAULT_VOLUME_FILTERS))
    allocated_storage: float | None = Field(default=1.0, ge=0)


def _cli_scalar(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "None"
    if isinstance(value, int | float):
        number = float(value) / CLI_MULTIPLIERS.get(name, 1.0)
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value)
    if any(ch in text for ch in ' \t"[],'):
        text = text.replace(" ", "_").replace('"', "").replace(",", "")
        text = text.replace("[", "").replace("]", "")
    return text


def _cli_value(name: str, value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(_cli_scalar(name, item) for item in value) + "]"
    return _cli_scalar(name, value)


# --- client-side re-validation ----------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return _boolean(actual) == _boolean(expected) and _boolean(actual) is not None
    a, e = _number(actual), _number(expected)
    if a is not None and e is not None:
        return a == e
    return str(actual).replace("_", " ") == str(expected).replace("_", " ")


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "eq":
        return _equal(actual, expected)
    if op == "neq":
        return not _equal(actual, expected)
    if op == "in":
        return any(_equal(actual, item) for item in expected)
    if op == "notin":
        return not any(_equal(actual, item) for item in expected)
    a, e = _number(actual), _number(expected)
    if a is None or e is None:
        return False
    if op == "gt":
        return a > e
    if op == "gte":
        return a >= e
    if op == "lt":
        return a < e
    return a <= e  # lte


def _offer_value(offer: Offer | VolumeOffer, name: str) -> Any:
    name = FIELD_ALIASES.get(name, name)
    if name == "verified" and isinstance(offer, Offer):
        return offer.is_verified
    if name in type(offer).model_fields:
        return getattr(offer, name)
    return (offer.model_extra or {}).get(name)


_GEO_OPS = frozenset({"eq", "neq", "in", "notin"})


def _geo_ok(actual: str, op: str, expected: Any) -> bool:
    """A `geolocation` condition: the offer's country against codes or country names.

    `"Washington, US"` and `"California, United States"` both are ``US``, and so are the query
    values `"US"` and `"United States"`; the full text also matches itself. When either side
    names no country we know, the condition cannot be checked and rejects nothing.
    """
    values = list(expected) if op in ("in", "notin") else [expected]
    code = country_code(actual)
    codes = [country_code(v) if isinstance(v, str) else None for v in values]
    pairs = zip(values, codes, strict=True)
    hit = any(_equal(actual, v) or (code is not None and code == c) for v, c in pairs)
    if op in ("neq", "notin"):
        return not hit
    return hit or code is None or None in codes


def offer_matches(offer: Offer | VolumeOffer, query: _ConditionQuery) -> bool:
    """True when `offer` satisfies every condition of `query` that it carries data for.

    A field the offer does not report (None) cannot be checked and does not reject the offer:
    Vast does not return every filter field (e.g. `verified`). `geolocation` compares
    countries, whether written as codes or names (`_geo_ok`).
    """
    for name, ops in query.conditions.items():
        actual = _offer_value(offer, name)
        if actual is None:
            continue
        for op, expected in ops.items():
            if name == "geolocation" and isinstance(actual, str) and op in _GEO_OPS:
                ok = _geo_ok(actual, op, expected)
            else:
                ok = _compare(actual, op, expected)
            if not ok:
                return False
    return True
