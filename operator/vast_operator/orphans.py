"""Orphans: instances labelled by this operator whose object no longer exists.

They are counted in `vast_operator_orphans`, each is named once in a WARNING log line, and with
`--sweep-orphans` (which needs `--cluster-id`) those labelled with this cluster's id are
destroyed once they have been orphans for the grace period. An instance of an object deleted
with `deletionPolicy: Orphan` is relabelled `k8s-vast-operator-released:<uid>` first, so it is
never counted or swept. Volumes, endpoints and templates are not covered yet: their names do
not carry a cluster id, and listing them every poll would cost calls in the steady state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .poller import Snapshot, cluster_from_label, uid_from_label

log = logging.getLogger("vast_operator.orphans")


@dataclass
class OrphanWatch:
    """Finds orphans in each listing; decides which may be swept."""

    cluster_id: str | None
    sweep: bool = False
    grace: float = 600.0  # an instance is an orphan this long before it is swept
    clock: Callable[[], float] = time.time
    started: float = field(default_factory=time.time)
    _first_seen: dict[int, float] = field(default_factory=dict)
    _reported: set[int] = field(default_factory=set)

    def mine(self, label: str | None) -> bool:
        """Labelled by an operator of this cluster (any, when this one has no id)."""
        if uid_from_label(label) is None:
            return False
        return self.cluster_id is None or cluster_from_label(label) == self.cluster_id

    def orphans(self, snapshot: Snapshot, known_uids: Iterable[str]) -> list[int]:
        """Ids of live instances of this cluster whose object is gone, after a start grace
        (kopf lists every object in the first seconds; until then all would look orphaned)."""
        now = self.clock()
        if now - self.started < min(self.grace, 120.0):
            return []
        known = set(known_uids)
        found = [
            inst.id
            for inst in snapshot.by_id.values()
            if self.mine(inst.label) and not inst.gone and uid_from_label(inst.label) not in known
        ]
        for gone in set(self._first_seen) - set(found):
            del self._first_seen[gone]
        for instance_id in found:
            self._first_seen.setdefault(instance_id, now)
            if instance_id not in self._reported:
                self._reported.add(instance_id)
                inst = snapshot.by_id[instance_id]
                log.warning(
                    "orphan: Vast instance %s (label %s) has no object in this cluster%s",
                    instance_id,
                    inst.label,
                    "; it will be destroyed" if self.may_sweep(inst.label) else "",
                )
        return found

    def may_sweep(self, label: str | None) -> bool:
        return (
            self.sweep
            and self.cluster_id is not None
            and cluster_from_label(label) == (self.cluster_id)
        )

    def due(self, snapshot: Snapshot, orphans: list[int]) -> list[int]:
        """The orphans to destroy now: sweeping on, this cluster's, orphaned for the grace."""
        now = self.clock()
        return [
            i
            for i in orphans
            if self.may_sweep(snapshot.by_id[i].label) and now - self._first_seen[i] >= self.grace
        ]
