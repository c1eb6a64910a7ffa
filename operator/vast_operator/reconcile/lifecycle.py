"""Small rules of the managed loop, kept apart so that the loop reads as its steps."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..api.common import ANNOTATION_PAUSED, ManagedStatus
from .adapter import EventSink
from .timefmt import parse_iso

log = logging.getLogger("vast_operator.reconcile")

CREATING = "Creating"
DELETING = "Deleting"
PENDING = "Pending"


def is_paused(body: Mapping[str, Any]) -> bool:
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(ANNOTATION_PAUSED, "")).lower() in ("true", "1", "yes")


def unknown_since(status: ManagedStatus, id_value: Any) -> float | None:
    """Since when a create may be landing on Vast without us knowing its outcome.

    Either a create call failed without an answer (`outcomeUnknownSince`), or a process wrote
    the intent (phase Creating, no external id) and never wrote the result: it died.
    """
    unknown = parse_iso(status.outcome_unknown_since)
    if unknown is None and status.phase == CREATING and id_value is None:
        unknown = parse_iso(status.creating_since)
    return unknown


def logged(events: EventSink) -> EventSink:
    """Every event is also one log line: rents, stops, starts and destroys at INFO."""

    def emit(body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        meta = body.get("metadata") or {}
        level = logging.INFO if type_ == "Normal" else logging.WARNING
        log.log(level, "%s/%s %s: %s", meta.get("namespace"), meta.get("name"), reason, message)
        events(body, type_, reason, message)

    return emit


def deletion_policy(body: Mapping[str, Any]) -> str:
    return str((body.get("spec") or {}).get("deletionPolicy") or "Delete")
