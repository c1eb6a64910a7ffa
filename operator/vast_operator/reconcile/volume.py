"""VastVolume's adapter for the managed loop (a Vast local volume on one machine).

The Vast name of a volume carries the object's UID (`k8s_<uid hex>`) unless the user chose a
name, so a crash between "Vast created it" and "status written" is healed by adoption. A volume
is deleted only when no VastInstance mounts it and Vast lists no instance using it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..accounts import Account
from ..api import volume as api
from ..api.volume import Phase, VastVolumeSpec, VastVolumeStatus
from ..vast import errors as verr
from ..vast.models import Volume, VolumeOffer
from ..vast.query import OfferQuery, VolumeOfferQuery
from .adapter import CreateResult, Ctx, DeleteResult, Observation
from .conditions import Reason
from .timefmt import iso, parse_iso

VolumeCtx = Ctx[VastVolumeSpec, VastVolumeStatus]
IN_USE_RECHECK = 5.0  # waiting for instances to let go: look again soon, not with backoff


def default_name(uid: str) -> str:
    """The Vast name of a volume whose spec names none: it carries the object's UID."""
    return f"k8s_{uid.replace('-', '')}"


def vast_name(spec: VastVolumeSpec | None, uid: str) -> str:
    if spec is not None and spec.name:
        return spec.name
    return default_name(uid)


def build_volume_query(spec: VastVolumeSpec) -> VolumeOfferQuery:
    query = VolumeOfferQuery().where("disk_space", "gte", spec.size).with_limit(64)
    query = query.ordered_by(("storage_cost", "asc"))
    selector = spec.offer
    if selector.offer_id is not None:
        return query.where("id", "eq", selector.offer_id)
    q = selector.query
    assert q is not None
    if q.machine_id is not None:
        query = query.where("machine_id", "eq", q.machine_id)
    if q.geolocation:
        query = query.where("geolocation", "in", list(q.geolocation))
    if q.min_reliability is not None:
        query = query.where("reliability", "gte", q.min_reliability)
    if not q.verified:
        query = query.without("verified")
    if q.max_storage_cost is not None:
        query = query.where("storage_cost", "lte", q.max_storage_cost)
    return query


def instances_using(instances: list[dict[str, Any]], volume_name: str) -> list[str]:
    """Names of the VastInstances in the namespace whose spec mounts this VastVolume."""
    users = []
    for obj in instances:
        for mount in (obj.get("spec") or {}).get("volumes") or []:
            if mount.get("name") == volume_name:
                users.append(str(obj["metadata"]["name"]))
    return sorted(set(users))


def find(rows: list[Volume], s: VastVolumeStatus, name: str, uid: str) -> Volume | None:
    for row in rows:
        if s.volume_id is not None and row.id == int(s.volume_id):
            return row
    if name == default_name(uid):  # it carries this object's UID: nobody else makes it
        return next((row for row in rows if row.label == name), None)
    # A name the user chose: only while our create is in flight, and only on the machine we
    # asked for, so that a volume of the same name that someone else made is never taken over
    # (a name that merely looks like ours, `k8s_<another uid>`, is someone else's too).
    if s.creating_since or s.outcome_unknown_since:
        for row in rows:
            if row.label == name and (s.machine_id is None or row.machine_id == s.machine_id):
                return row
    return None


def duplicates(rows: list[Volume], found: Volume | None, name: str, uid: str) -> list[Volume]:
    """Other volumes with the name that carries this object's UID (nobody else makes it): a
    second create that landed. Never for a name the user chose: it may be someone else's."""
    if name != default_name(uid):
        return []
    return [r for r in rows if r.label == name and (found is None or r.id != found.id)]


async def offers_for(account: Account, spec: VastVolumeSpec) -> list[VolumeOffer]:
    query = build_volume_query(spec)
    q = spec.offer.query
    if spec.offer.offer_id is None and q is not None and q.gpu_name:
        # Volume offers carry no GPU fields: keep the machines that rent out that GPU now.
        gpu_query = OfferQuery().where("gpu_name", "eq", q.gpu_name).with_limit(256)
        if not q.verified:
            gpu_query = gpu_query.without("verified")
        gpu_offers = await account.client.search_offers(gpu_query)
        machines = sorted({o.machine_id for o in gpu_offers if o.machine_id is not None})
        if not machines:
            return []
        query = query.where("machine_id", "in", machines)
    offers = await account.client.search_volume_offers(query)
    return [o for o in offers if (o.disk_space or 0) >= spec.size]


class VolumeAdapter:
    plural: ClassVar[str] = api.PLURAL
    spec_model: ClassVar[type[VastVolumeSpec]] = VastVolumeSpec
    status_model: ClassVar[type[VastVolumeStatus]] = VastVolumeStatus
    id_field: ClassVar[str] = "volume_id"
    releases_on_orphan: ClassVar[bool] = False  # a volume carries no operator label
    created_markers: ClassVar[tuple[str, ...]] = (
        "volume_id",
        "offer_id",
        "creating_since",
        "outcome_unknown_since",
    )

    async def observe(self, ctx: VolumeCtx, newer_than: float | None) -> Observation[Volume]:
        s, volumes = ctx.w.s, ctx.account.volumes
        name = vast_name(ctx.spec, ctx.uid)
        since = parse_iso(s.creating_since) or parse_iso(s.observed_at)
        rows = await volumes.get(newer_than=since if s.phase != Phase.AVAILABLE else None)
        found = find(rows, s, name, ctx.uid)
        if found is None and (s.volume_id is not None or newer_than is not None):
            # Absence needs a listing that began now (and after the loop's last intent).
            fresh = max(ctx.clock() - 0.001, newer_than or 0.0)
            rows = await volumes.get(newer_than=fresh)
            found = find(rows, s, name, ctx.uid)
        if found is not None and s.volume_id is not None and found.id == int(s.volume_id):
            for extra in duplicates(rows, found, name, ctx.uid):
                if not extra.instance_ids:  # unused: a double create holds no data
                    await ctx.account.client.delete_volume(extra.id, missing_ok=True)
                    volumes.invalidate()
                    msg = f"deleted duplicate volume V.{extra.id}"
                    ctx.event("DuplicateDestroyed", msg, warning=True)
        return Observation(found)

    async def absent(self, ctx: VolumeCtx, observation: Observation[Volume]) -> float | None:
        if ctx.w.s.volume_id is None:
            return None
        msg = f"volume V.{ctx.w.s.volume_id} no longer exists on Vast; its data is gone"
        ctx.w.phase(Phase.FAILED, Reason.VOLUME_LOST, msg)
        ctx.w.synced(True)
        ctx.event(Reason.VOLUME_LOST, msg, warning=True)
        return ctx.tuning.idle_interval * 10

    async def create(self, ctx: VolumeCtx) -> CreateResult[Volume]:
        spec, w, account = ctx.spec, ctx.w, ctx.account
        name = vast_name(spec, ctx.uid)
        rows = await account.volumes.get(newer_than=ctx.clock() - 0.001)
        if any(row.label == name for row in rows):
            msg = f"a Vast volume named {name} already exists and is not this object's"
            w.phase(Phase.PENDING, Reason.NAME_TAKEN, msg)
            w.synced(False, Reason.NAME_TAKEN, msg)
            return CreateResult(ctx.tuning.idle_interval)
        offers = await offers_for(account, spec)
        if not offers:
            msg = "no volume offer matches spec.offer with enough free space"
            w.phase(Phase.PENDING, Reason.NO_MATCHING_OFFER, msg)
            w.synced(True)
            return CreateResult(ctx.tuning.no_offer_interval)
        for offer in offers[:3]:
            await ctx.intend(
                Phase.CREATING,
                Reason.CREATING,
                f"creating a {spec.size} GB volume on machine {offer.machine_id}",
                offer_id=offer.id,
                machine_id=offer.machine_id,
            )
            try:
                created = await account.client.create_volume(offer.id, spec.size, name)
            except verr.OfferUnavailableError:
                w.s.creating_since = None
                continue
            except verr.CreateOutcomeUnknownError:
                account.volumes.invalidate()
                raise
            except verr.VastError:
                # Vast answered no: nothing was created, so there is nothing to wait for.
                w.s.creating_since, w.s.phase = None, Phase.PENDING
                raise
            account.volumes.invalidate()
            s = w.s
            s.volume_id, s.volume_name = created.volume_id, created.volume_name
            s.machine_id, s.size = offer.machine_id, spec.size
            s.observed_at, s.creating_since = iso(ctx.clock()), None
            msg = f"volume {created.volume_name} on machine {offer.machine_id}"
            w.phase(Phase.AVAILABLE, Reason.AVAILABLE, msg, ready=True)
            w.synced(True)
            ctx.event("Created", f"created volume {created.volume_name}")
            return CreateResult(ctx.tuning.poll_interval)
        return CreateResult(1.0)

    async def update(self, ctx: VolumeCtx, observation: Observation[Volume]) -> float:
        found, s = observation.resource, ctx.w.s
        assert found is not None
        users = instances_using(
            await ctx.kube.list_objects("vastinstances", ctx.namespace), ctx.name
        )
        s.volume_id, s.volume_name = found.id, f"V.{found.id}"
        s.machine_id = found.machine_id or s.machine_id
        s.size = int(found.disk_space) if found.disk_space else ctx.spec.size
        s.used_by = users or None
        s.creating_since = None
        if s.observed_at is None:
            s.observed_at = iso(ctx.clock())
        msg = f"volume V.{found.id} on machine {found.machine_id}"
        ctx.w.phase(Phase.AVAILABLE, Reason.AVAILABLE, msg, ready=True)
        ctx.w.synced(True)
        return ctx.tuning.poll_interval * 2

    async def release(self, ctx: Ctx[VastVolumeSpec | None, VastVolumeStatus]) -> None:
        return None  # a volume carries no operator label

    async def delete(
        self, ctx: Ctx[VastVolumeSpec | None, VastVolumeStatus], newer_than: float | None
    ) -> DeleteResult:
        w, account = ctx.w, ctx.account
        users = instances_using(
            await ctx.kube.list_objects("vastinstances", ctx.namespace), ctx.name
        )
        if users:
            msg = f"waiting: still mounted by VastInstance {', '.join(users)}"
            w.s.used_by = users
            w.phase(Phase.DELETING, Reason.IN_USE, msg)
            return DeleteResult(False, Reason.IN_USE, msg, wait_seconds=IN_USE_RECHECK)
        since = max(ctx.clock() - 0.001, newer_than or 0.0)
        name = vast_name(ctx.spec, ctx.uid)
        rows = await account.volumes.get(newer_than=since)
        found = find(rows, w.s, name, ctx.uid)
        targets = ([found] if found is not None else []) + duplicates(rows, found, name, ctx.uid)
        if not targets:
            return DeleteResult(True, Reason.NEVER_CREATED, "nothing on Vast")
        if used := sorted({i for v in targets for i in v.instance_ids}):
            ids = ", ".join(str(i) for i in used)
            msg = f"waiting: Vast instances {ids} still use the volume"
            w.phase(Phase.DELETING, Reason.IN_USE, msg)
            return DeleteResult(False, Reason.IN_USE, msg, wait_seconds=IN_USE_RECHECK)
        for volume in targets:  # a duplicate too: nothing of this object may outlive it
            await account.client.delete_volume(volume.id, missing_ok=True)
        rows = await account.volumes.get(newer_than=ctx.clock() - 0.001)
        if left := [r.id for r in rows if r.id in {v.id for v in targets}]:
            return DeleteResult(False, Reason.DELETING, f"Vast still lists volume {left[0]}")
        names = ", ".join(f"V.{v.id}" for v in targets)
        return DeleteResult(True, Reason.DESTROYED, f"deleted volume {names}")
