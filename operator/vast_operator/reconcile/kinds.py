"""The kinds this operator manages: one adapter each. Adding a kind means adding it here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .adapter import Adapter
from .endpoint import EndpointAdapter
from .instance import InstanceAdapter
from .volume import VolumeAdapter

PLURALS: tuple[str, ...] = (
    InstanceAdapter.plural,
    VolumeAdapter.plural,
    EndpointAdapter.plural,
)


def adapters(on_replace: Callable[[], None] | None = None) -> list[Adapter[Any, Any, Any]]:
    return [InstanceAdapter(on_replace=on_replace), VolumeAdapter(), EndpointAdapter()]
