"""VastInstance's adapter for the managed loop: observe, create (rent), update, delete.

Money rules kept here (the loop keeps the rest, see `reconcile/adapter.py`):

1. One rental per object. Every instance carries the label `k8s-vast-operator:<uid>`. Absence is
   believed only from a listing that began after the last intent or adoption; a crash after
   Vast said yes is healed by adopting the labelled instance. Extra labelled instances are
   destroyed, and destroyed ids are never adopted again (`retiredInstanceIds`).
2. Deletion destroys every instance of the object (status id and label) and is done only when
   a fresh listing shows none of them.
3. Re-placement (`running.replace`): a failing instance is destroyed, its machine excluded.
4. Prices: offers above the cap are never rented; the bid never exceeds it (`placement`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from ...api import instance as api
from ...api.common import ANNOTATION_INSTANCE_ID
from ...api.instance import Phase, VastInstanceSpec, VastInstanceStatus
from ...poller import Snapshot, label_for, released_label, uid_from_label
from ...vast.models import Instance
from ..adapter import CreateResult, Ctx, DeleteResult, Observation, Tuning
from ..conditions import Reason
from ..timefmt import iso, parse_iso
from . import jobs, renting, running
from .rules import forget_instance, retire

InstanceCtx = Ctx[VastInstanceSpec, VastInstanceStatus]


def managed(
    uid: str, s: VastInstanceStatus, snap: Snapshot
) -> tuple[Instance | None, list[Instance]]:
    """The instance this object owns, and extra ones that must not exist."""
    retired = set(s.retired_instance_ids or [])
    found = {i.id: i for i in snap.for_uid(uid) if i.id not in retired and not i.gone}
    current = s.instance_id
    listed = snap.by_id.get(current) if current is not None else None
    if listed is not None and listed.id not in retired and not listed.gone:
        owner = uid_from_label(listed.label)
        if owner is None or owner == uid:  # status is not proof: another object's is not ours
            found[listed.id] = listed
    if not found:
        return None, []
    keep_id = current if current is not None and current in found else min(found)
    keep = found.pop(keep_id)
    return keep, list(found.values())


def trust_since(s: VastInstanceStatus, newer_than: float | None) -> float | None:
    """A listing must have begun after this to prove absence: our last rent or adoption."""
    since = parse_iso(s.creating_since)
    if s.instance_id is not None or s.phase == Phase.CREATING:
        since = max(since or 0.0, parse_iso(s.observed_at) or 0.0) or None
    if newer_than is not None:
        since = max(since or 0.0, newer_than)
    return since


# While an instance we rented boots, its object wants a row no older than this share of the time
# since the rent (at least the busy interval, at most the poll interval).
BOOT_WATCH_SHARE = 0.25


def boot_watch_age(s: VastInstanceStatus, now: float, tuning: Tuning) -> float | None:
    """How old a listing a booting object may use, or None when it is not booting.

    A boot is seen within one busy interval, not at the next periodic listing up to a poll
    later. The bound grows with the boot's age, so a boot that takes minutes asks for partial
    listings (one page for up to 25 objects, poller.py) only in its first few poll intervals;
    after that the periodic listing serves it. Meanwhile its label rides along on every partial
    listing made for others (`InstancePoller.watch`), which usually shows the boot first."""
    start = parse_iso(s.creating_since)
    if s.instance_id is None or start is None or s.phase != Phase.LOADING:
        return None
    return min(max((now - start) * BOOT_WATCH_SHARE, tuning.busy_interval), tuning.poll_interval)


def ids_text(ids: list[int]) -> str:
    return ("instance " if len(ids) == 1 else "instances ") + ", ".join(str(i) for i in ids)


class InstanceAdapter:
    plural: ClassVar[str] = api.PLURAL
    spec_model: ClassVar[type[VastInstanceSpec]] = VastInstanceSpec
    status_model: ClassVar[type[VastInstanceStatus]] = VastInstanceStatus
    id_field: ClassVar[str] = "instance_id"
    releases_on_orphan: ClassVar[bool] = True  # instances carry k8s-vast-operator:<uid>
    created_markers: ClassVar[tuple[str, ...]] = (
        "instance_id",
        "offer_id",
        "creating_since",
        "outcome_unknown_since",
        "attempts",
        "retired_instance_ids",
    )

    def __init__(self, on_replace: Callable[[], None] | None = None) -> None:
        self.on_replace = on_replace

    async def observe(self, ctx: InstanceCtx, newer_than: float | None) -> Observation[Instance]:
        s, client = ctx.w.s, ctx.account.client
        annotations = ctx.body["metadata"].get("annotations") or {}
        adopt = annotations.get(ANNOTATION_INSTANCE_ID)
        retired = set(s.retired_instance_ids or [])
        if adopt and s.instance_id is None and not str(adopt).isdigit():
            msg = f"annotation {ANNOTATION_INSTANCE_ID}={adopt!r} is not a Vast instance id"
            ctx.w.synced(False, Reason.ADOPTION_REFUSED, msg)
            return Observation(requeue=ctx.tuning.idle_interval)  # never rent instead
        if adopt and s.instance_id is None and int(adopt) not in retired:
            refused = await self._adopt(ctx, int(adopt))
            if refused is not None:
                return refused

        if ctx.tuning.observe_by_id and s.instance_id is not None:
            # BENCHMARK ONLY: the naive way, one GET per object per pass (Tuning.observe_by_id).
            found = await self._confirm(ctx, int(s.instance_id))
            if found is not None:
                return Observation(found)
        # An object with an instance expects to see it: a partial listing that shows it will do
        # (poller.py); only a complete listing may show it gone.
        expect = label_for(ctx.uid, ctx.tuning.cluster_id) if s.instance_id is not None else None
        since, now = trust_since(s, newer_than), ctx.clock()
        booting = boot_watch_age(s, now, ctx.tuning)
        if booting is not None and expect is not None:
            since = max(since or 0.0, now - booting)
            ctx.account.poller.watch(expect, until=now + 2 * booting)
        snap = await ctx.account.poller.snapshot(newer_than=since, expect_label=expect)
        if not snap.complete and s.instance_id is not None and s.instance_id not in snap.by_id:
            # A partial listing shows labelled rows only: the instance in status may be one
            # whose label has not taken (an adoption). Only a complete listing decides then.
            snap = await ctx.account.poller.snapshot(newer_than=since)
        inst, extras = managed(ctx.uid, s, snap)
        if inst is None and s.instance_id is not None:
            # One listing without the row is not proof: pages shift while instances are
            # created, and replicas lag. Ask for the instance itself before calling it lost.
            inst = await self._confirm(ctx, int(s.instance_id))
        for extra in extras:
            await client.destroy_instance(extra.id, missing_ok=True)
            retire(s, extra.id)
            ctx.event(
                "DuplicateDestroyed", f"destroyed duplicate instance {extra.id}", warning=True
            )
        if inst is not None and inst.id == s.instance_id and not inst.label:
            # An adoption whose label did not take (Vast refused the PUT, the operator died):
            # unlabelled, the instance escapes every label-based check (duplicates, recovery
            # after a crash, orphans). A released label is not empty, so a release stays.
            await client.label_instance(inst.id, label_for(ctx.uid, ctx.tuning.cluster_id))
            ctx.acted(inst.id)  # the next pass reads a listing that shows the label
            ctx.event("Adopted", f"adopted existing Vast instance {inst.id} (labelled it now)")
        return Observation(inst)

    async def _adopt(self, ctx: InstanceCtx, instance_id: int) -> Observation[Instance] | None:
        """Take over an existing instance named by the annotation, if that is allowed and the
        instance belongs to no other object. An Observation to stop the pass when refused."""
        s, client = ctx.w.s, ctx.account.client
        stop: Observation[Instance] = Observation(requeue=ctx.tuning.idle_interval)
        if not ctx.tuning.allow_adoption:
            msg = (
                f"the annotation {ANNOTATION_INSTANCE_ID} asks to adopt instance {instance_id}, "
                "but this operator does not allow adoption (--allow-adoption)"
            )
            ctx.w.synced(False, Reason.ADOPTION_DISABLED, msg)
            return stop
        found = await client.get_instance(instance_id)
        if found is None:
            ctx.w.synced(
                False, Reason.INSTANCE_LOST, f"instance {instance_id} to adopt does not exist"
            )
            return stop
        owner = uid_from_label(found.label)
        if owner is not None and owner != ctx.uid:
            msg = f"instance {instance_id} belongs to another object; it cannot be adopted"
            ctx.w.synced(False, Reason.ADOPTION_REFUSED, msg)  # the loop posts one Warning
            return stop
        # Record it before labelling: from here on, deleting the object destroys it.
        s.instance_id, s.observed_at, s.creating_since = found.id, iso(ctx.clock()), None
        await ctx.w.flush()
        await client.label_instance(found.id, label_for(ctx.uid, ctx.tuning.cluster_id))
        ctx.event("Adopted", f"adopted existing Vast instance {found.id}")
        return None

    async def _confirm(self, ctx: InstanceCtx, instance_id: int) -> Instance | None:
        """The instance in status, asked for by id; None when Vast confirms it is gone."""
        if instance_id in set(ctx.w.s.retired_instance_ids or []):
            return None
        found = await ctx.account.client.get_instance(instance_id)
        if found is None:
            return None
        owner = uid_from_label(found.label)
        if owner is not None and owner != ctx.uid:
            return None  # relabelled for someone else: not ours any more
        if found.gone:
            return None
        return found

    async def absent(self, ctx: InstanceCtx, observation: Observation[Instance]) -> float | None:
        """No instance: note a lost one, stay down in terminal phases, else let the loop rent."""
        s, spec, w = ctx.w.s, ctx.spec, ctx.w
        finished = await jobs.finished_without_instance(ctx)  # never rent a finished job again
        if finished is not None:
            return finished
        lost = s.instance_id
        if lost is not None:
            # It was ours and a listing newer than our last look no longer has it.
            retire(s, lost)
            forget_instance(s)
            s.creating_since = None
            if s.expired_at is None:
                msg = f"instance {lost} was destroyed outside the operator; renting again"
                ctx.event("InstanceLost", msg, warning=True)
                s.message = msg
                w.ready(False, Reason.INSTANCE_LOST, msg)

        if s.expired_at is not None and s.observed_generation != w.generation:
            # The spec changed after the lifetime ran out: the user wants it again.
            s.expired_at, s.started_at, s.attempts, s.failed_machines = None, None, 0, None
        if s.expired_at is not None:
            msg = f"spec.lifetime {spec.lifetime} ran out; the instance was destroyed"
            w.phase(Phase.STOPPED, Reason.LIFETIME_EXPIRED, msg)
            w.synced(True)
            return ctx.tuning.idle_interval * 10

        if s.phase == Phase.FAILED and s.observed_generation == w.generation:
            return ctx.tuning.idle_interval * 10
        if s.phase == Phase.FAILED:  # the spec changed: try again from scratch
            s.attempts, s.failed_machines = 0, None

        if spec.state == "Stopped":
            w.phase(
                Phase.STOPPED,
                Reason.NOT_RENTED,
                "not rented while spec.state is Stopped",
                ready=True,
            )
            w.synced(True)
            return ctx.tuning.idle_interval

        attempts = int(s.attempts or 0)
        if attempts >= spec.placement.max_attempts:
            msg = (
                f"gave up after {attempts} instances failed "
                f"(machines {s.failed_machines or []}); change the spec to try again"
            )
            w.phase(Phase.FAILED, Reason.MAX_ATTEMPTS, msg)
            w.synced(True)
            ctx.event("Failed", msg, warning=True)
            return ctx.tuning.idle_interval * 10
        return None

    async def create(self, ctx: InstanceCtx) -> CreateResult[Instance]:
        return await renting.rent(ctx)

    async def update(self, ctx: InstanceCtx, observation: Observation[Instance]) -> float:
        assert observation.resource is not None
        return await running.run(ctx, observation.resource, self.on_replace)

    async def release(self, ctx: Ctx[VastInstanceSpec | None, VastInstanceStatus]) -> None:
        """Orphan: relabel the instances so that no orphan report or sweep ever counts them."""
        ids = {i.id for i in (ctx.account.poller.current or Snapshot(0.0)).for_uid(ctx.uid)}
        if ctx.w.s.instance_id is not None:
            ids.add(int(ctx.w.s.instance_id))
        for instance_id in sorted(ids):
            await ctx.account.client.label_instance(instance_id, released_label(ctx.uid))

    async def delete(
        self, ctx: Ctx[VastInstanceSpec | None, VastInstanceStatus], newer_than: float | None
    ) -> DeleteResult:
        s, client, poller = ctx.w.s, ctx.account.client, ctx.account.poller
        # No rent starts once deletion began, and in-flight ones finished under the object's
        # lock: a listing newer than the last intent shows everything ours.
        snap = await poller.snapshot(newer_than=trust_since(s, newer_than))
        retired = set(s.retired_instance_ids or [])
        ids = {i.id for i in snap.for_uid(ctx.uid) if not i.gone and i.id not in retired}
        # Not held while waiting for the delete route: a thousand deletions queued behind it
        # each kept the listing it began with alive, hundreds of megabytes of snapshots.
        del snap
        if s.instance_id is not None:
            ids.add(int(s.instance_id))
        if not ids:
            return DeleteResult(True, Reason.NEVER_CREATED, "nothing rented on Vast")
        ordered = sorted(ids)
        if s.phase != Phase.DELETING:
            ctx.w.phase(Phase.DELETING, Reason.DELETING, f"destroying {ids_text(ordered)}")
            await ctx.w.flush()
        for instance_id in ordered:
            await client.destroy_instance(instance_id, missing_ok=True)
        # A partial listing (poller.py) that shows every destroyed instance as gone (Vast's
        # `unloaded`) is positive evidence; any id it does not show waits for a complete one.
        since = ctx.clock()
        label = label_for(ctx.uid, ctx.tuning.cluster_id)
        confirm = await poller.snapshot(newer_than=since, expect_label=label)
        if not confirm.complete and any(i not in confirm.by_id for i in ids):
            confirm = await poller.snapshot(newer_than=since)
        remaining = sorted(i for i in ids if i in confirm.by_id and not confirm.by_id[i].gone)
        if remaining:
            return DeleteResult(False, Reason.DELETING, f"Vast still lists {ids_text(remaining)}")
        # Confirmed gone by a listing newer than the destroys: recorded as retired, so that a
        # handler kopf runs again before the finalizer is off sends no second DELETE.
        for instance_id in ordered:
            retire(s, instance_id)
        if s.instance_id is not None and int(s.instance_id) in ids:
            forget_instance(s)
        return DeleteResult(True, Reason.DESTROYED, f"destroyed {ids_text(ordered)}")
