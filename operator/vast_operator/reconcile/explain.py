"""What a person sees of every object: a phase and a Ready condition always, and one Warning
event when it enters a state that only a person can end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .adapter import EventSink
from .conditions import READY, STUCK, SYNCED, Reason
from .lifecycle import PENDING
from .status import StatusWriter


def always_explained(w: StatusWriter[Any]) -> None:
    """Every object shows a phase and a Ready condition, whatever went wrong."""
    synced = w.get_condition(SYNCED) or {}
    if w.s.phase is None:
        w.s.phase = PENDING
    if w.get_condition(READY) is None:
        if synced.get("status") == "False":
            reason = Reason(str(synced.get("reason")))
            w.s.message = str(synced.get("message") or "")
            w.ready(False, reason, w.s.message)
        else:
            w.ready(False, Reason.CREATING, w.s.message or "not created yet")


def stuck_reasons(w: StatusWriter[Any]) -> set[str]:
    return {
        str(c.get("reason"))
        for c in (w.get_condition(READY), w.get_condition(SYNCED))
        if c is not None and c.get("status") == "False" and c.get("reason") in STUCK
    }


def warn_when_stuck(
    events: EventSink, body: Mapping[str, Any], w: StatusWriter[Any], before: set[str]
) -> None:
    """One Warning event per transition into a state only a person can end."""
    for type_ in (READY, SYNCED):
        cond = w.get_condition(type_) or {}
        reason = str(cond.get("reason"))
        if cond.get("status") == "False" and reason in STUCK and reason not in before:
            events(body, "Warning", reason, str(cond.get("message") or ""))
            before.add(reason)
