"""The status writer: typed status in, JSON merge patches of what changed out.

Adapters read and write `w.s`, an instance of the kind's status model (`VastInstanceStatus`,
…), by attribute. `flush()` sends only the fields that differ from what the API server holds,
so it is cheap to call at every decision point (that is what makes "intent before action"
possible). Fields the model does not know (written by another version) are never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from ..api.common import Condition, ManagedStatus
from ..kube import Kube
from .conditions import READY, SYNCED, Reason, get_condition, set_condition

StatusT = TypeVar("StatusT", bound=ManagedStatus)


def _wire(model: ManagedStatus) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def merge_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns `old` into `new`: changed keys, nested
    objects diffed key by key, and null for every key that went away (at any depth)."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if before == value:
            continue
        if isinstance(value, dict) and isinstance(before, dict):
            patch[key] = merge_diff(before, value)
        else:
            patch[key] = value
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


class StatusWriter(Generic[StatusT]):
    """Collects status changes and writes only what differs from what is stored."""

    def __init__(
        self,
        kube: Kube,
        plural: str,
        body: Mapping[str, Any],
        model: type[StatusT],
        on_write: Callable[[frozenset[str]], None] | None = None,
    ) -> None:
        meta = body.get("metadata") or {}
        # Told after each write the resourceVersions that do not show it: the body this writer
        # started from and what its earlier writes made. A body still at one of them is older
        # than the write (its watch event is on its way).
        self.on_write = on_write
        version = meta.get("resourceVersion")
        self._versions: frozenset[str] = frozenset({str(version)} if version else ())
        self.kube = kube
        self.plural = plural
        self.model = model
        self.namespace = str(meta.get("namespace"))
        self.name = str(meta.get("name"))
        self.generation: int | None = meta.get("generation")
        self.s: StatusT = model.model_validate(dict(body.get("status") or {}))
        self._stored: dict[str, Any] = _wire(self.s)

    def reload(self, status: Mapping[str, Any]) -> None:
        """Replace what we hold with a fresher copy read from the API server."""
        self.s = self.model.model_validate(dict(status))
        self._stored = _wire(self.s)

    # --- conditions ------------------------------------------------------------------------

    def _conditions(self) -> list[dict[str, Any]]:
        return [c.model_dump(by_alias=True, exclude_none=True) for c in self.s.conditions or []]

    def condition(self, type_: str, status: bool | None, reason: Reason, message: str) -> None:
        updated = set_condition(
            self._conditions(), type_, status, str(reason), message, self.generation
        )
        self.s.conditions = [Condition.model_validate(c) for c in updated]

    def get_condition(self, type_: str) -> dict[str, Any] | None:
        return get_condition(self._conditions(), type_)

    def synced(self, ok: bool, reason: Reason = Reason.RECONCILED, message: str = "") -> None:
        self.condition(SYNCED, ok, reason, message)

    def ready(self, ok: bool, reason: Reason, message: str) -> None:
        self.condition(READY, ok, reason, message)

    def phase(self, phase: str, reason: Reason, message: str, *, ready: bool = False) -> None:
        """Phase, message and the Ready condition in one step (they always move together)."""
        self.s.phase = phase
        self.s.message = message
        self.ready(ready, reason, message)

    # --- writing ---------------------------------------------------------------------------

    def pending_patch(self) -> dict[str, Any]:
        return merge_diff(self._stored, _wire(self.s))

    async def flush(self) -> bool:
        """Write the changes now; True when something was written."""
        patch = self.pending_patch()
        if not patch:
            return False
        version = await self.kube.patch_status(self.plural, self.namespace, self.name, patch)
        self._stored = _wire(self.s)
        if self.on_write is not None:  # a patch that changed nothing keeps the version
            self.on_write(self._versions - {version} if version else self._versions)
        if version is not None:
            self._versions |= {version}
        return True
