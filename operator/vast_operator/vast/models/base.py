"""Tolerant field types and the base of every response model.

Vast's answers are loose: unknown fields are kept (`model_extra`) but never shown in `repr`;
numbers sent as strings are coerced; a field whose value has an unexpected type becomes None
instead of failing the whole row; `-1` port numbers mean "none"; `public_ipaddr` is stripped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

__all__ = [
    "Lenient",
    "OptBool",
    "OptFloat",
    "OptInt",
    "OptPort",
    "OptSecret",
    "OptStr",
    "StrippedStr",
    "VastModel",
]


def _none_on_error(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate normally; a value of the wrong shape becomes None instead of an error."""
    if value == "" or value is None:
        return None
    try:
        return handler(value)
    except ValidationError:
        return None


def _minus_one_is_none(value: Any) -> Any:
    if value in (-1, "-1", -1.0):
        return None
    return value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Lenient = WrapValidator(_none_on_error)
OptInt = Annotated[int | None, Lenient]
OptFloat = Annotated[float | None, Lenient]
OptStr = Annotated[str | None, Lenient]
OptBool = Annotated[bool | None, Lenient]
OptPort = Annotated[int | None, Lenient, BeforeValidator(_minus_one_is_none)]
StrippedStr = Annotated[str | None, Lenient, BeforeValidator(_strip)]
OptSecret = Annotated[SecretStr | None, Lenient]


class VastModel(BaseModel):
    """Base of response models: tolerant input, `repr` limited to declared, non-secret fields."""

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        coerce_numbers_to_str=True,
        frozen=False,
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if info.repr and value is not None:
                yield name, value
