"""The managed-resource cycle for VastVolume (a Vast local volume on one machine).

The Vast name of a volume carries the object's UID (`k8s_<uid hex>`) unless the user chose a
name, so a crash between "Vast created it" and "status written" is healed by adoption. A volume
is deleted only when no VastInstance mounts it and Vast lists no instance using it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..accounts import Account
from ..api import volume as api
from ..api.volume import Phase, VastVolumeSpec
from ..vast import errors as verr
from ..vast.models import Volume, VolumeOffer
from ..vast.query import OfferQuery, VolumeOfferQuery
from .base import (
    CredentialsMissing,
    ManagedReconciler,
    StatusWriter,
    iso,
    not_created,
    parse_iso,
)
from .conditions import READY, Reason

log = logging.getLogger("vast_operator.volume")


def vast_name(spec: VastVolumeSpec, uid: str) -> str:
    return spec.name or f"k8s_{uid.replace('-', '')}"


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


class VolumeReconciler(ManagedReconciler[VastVolumeSpec]):
    plural = api.PLURAL
    spec_model = VastVolumeSpec

    def _find(self, rows: list[Volume], w: StatusWriter, name: str) -> Volume | None:
        current = w.get("volumeId")
        for row in rows:
            if current is not None and row.id == int(current):
                return row
        # By name only when the name is ours (it carries the UID) or we were creating it:
        # never take over a volume of the same name that someone else made.
        if name.startswith("k8s_") or w.get("creatingSince") or w.get("offerId"):
            for row in rows:
                if row.label == name:
                    return row
        return None

    async def cycle(self, body: Mapping[str, Any], spec: VastVolumeSpec, w: StatusWriter) -> float:
        meta = body["metadata"]
        account = await self.account(body, spec)
        name = vast_name(spec, meta["uid"])
        creating = parse_iso(w.get("creatingSince"))
        since = creating or parse_iso(w.get("observedAt"))
        rows = await account.volumes.get(
            newer_than=since if w.get("phase") != Phase.AVAILABLE else None
        )
        found = self._find(rows, w, name)
        if found is None and w.get("volumeId") is not None and w.get("phase") == Phase.AVAILABLE:
            rows = await account.volumes.get(newer_than=self.clock() - 0.001)
            found = self._find(rows, w, name)
        if found is not None:
            return await self._available(body, spec, w, found)
        if w.get("volumeId") is not None:
            msg = f"volume V.{w.get('volumeId')} no longer exists on Vast; its data is gone"
            w.set(phase=Phase.FAILED, message=msg)
            w.condition(READY, False, "VolumeLost", msg)
            w.synced(True)
            self.events(body, "Warning", "VolumeLost", msg)
            return self.tuning.idle_interval * 10
        if self.tuning.finalizer not in (meta.get("finalizers") or []):
            return self.tuning.busy_interval
        if creating is not None:
            # A create was sent and its answer never arrived (lost, or we died): Vast may still
            # be acting on it. Create again only after a listing that began once it settled.
            settle_until = creating + self.tuning.create_settle
            wait = settle_until - self.clock()
            if wait > 0:
                w.set(
                    phase=Phase.CREATING,
                    message=f"the last create may still land on Vast; checking again in "
                    f"{wait:.0f}s",
                )
                return min(wait + 0.1, self.tuning.busy_interval)
            found = self._find(await account.volumes.get(newer_than=settle_until), w, name)
            if found is not None:
                return await self._available(body, spec, w, found)
            w.set(creatingSince=None)
        offers = await self._offers(account, spec)
        if not offers:
            msg = "no volume offer matches spec.offer with enough free space"
            w.set(phase=Phase.PENDING, message=msg)
            w.condition(READY, False, Reason.NO_MATCHING_OFFER, msg)
            w.synced(True)
            return self.tuning.no_offer_interval
        return await self._create(body, spec, w, account, offers, name)

    async def _offers(self, account: Account, spec: VastVolumeSpec) -> list[VolumeOffer]:
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

    async def _available(
        self, body: Mapping[str, Any], spec: VastVolumeSpec, w: StatusWriter, found: Volume
    ) -> float:
        meta = body["metadata"]
        users = instances_using(
            await self.kube.list_objects("vastinstances", meta["namespace"]), meta["name"]
        )
        w.set(
            volumeId=found.id,
            volumeName=f"V.{found.id}",
            machineId=found.machine_id or w.get("machineId"),
            size=int(found.disk_space) if found.disk_space else spec.size,
            usedBy=users or None,
            phase=Phase.AVAILABLE,
            message=f"volume V.{found.id} on machine {found.machine_id}",
            creatingSince=None,
        )
        if w.get("observedAt") is None:
            w.set(observedAt=iso(self.clock()))
        w.condition(READY, True, Reason.AVAILABLE, w.get("message"))
        w.synced(True)
        return self.tuning.poll_interval * 2

    async def _create(
        self,
        body: Mapping[str, Any],
        spec: VastVolumeSpec,
        w: StatusWriter,
        account: Account,
        offers: list[VolumeOffer],
        name: str,
    ) -> float:
        for offer in offers[:3]:
            # Intent first: if the answer is lost, the next pass knows to look before creating.
            w.set(
                phase=Phase.CREATING,
                offerId=offer.id,
                creatingSince=iso(self.clock()),
                message=f"creating a {spec.size} GB volume on machine {offer.machine_id}",
            )
            w.condition(READY, False, Reason.CREATING, w.get("message"))
            await w.flush()
            try:
                created = await account.client.create_volume(offer.id, spec.size, name)
            except verr.OfferUnavailableError:
                w.set(creatingSince=None)
                continue
            except verr.CreateOutcomeUnknownError as exc:
                account.volumes.invalidate()
                msg = f"the volume create has an unknown outcome ({exc.message}); checking Vast"
                w.set(message=msg)
                w.synced(False, Reason.VAST_UNAVAILABLE, msg)
                return self.tuning.busy_interval
            except verr.VastError as exc:
                # Vast answered no: nothing was created, so there is nothing to wait for.
                w.set(creatingSince=None, phase=Phase.PENDING)
                return not_created(w, exc)
            account.volumes.invalidate()
            w.set(
                volumeId=created.volume_id,
                volumeName=created.volume_name,
                machineId=offer.machine_id,
                size=spec.size,
                phase=Phase.AVAILABLE,
                observedAt=iso(self.clock()),
                creatingSince=None,
                message=f"volume {created.volume_name} on machine {offer.machine_id}",
            )
            w.condition(READY, True, Reason.AVAILABLE, w.get("message"))
            w.synced(True)
            self.events(body, "Normal", "Created", f"created volume {created.volume_name}")
            return self.tuning.poll_interval
        return 1.0

    async def delete(self, body: Mapping[str, Any]) -> tuple[bool, str]:
        meta = body["metadata"]
        w = StatusWriter(self.kube, self.plural, body)
        try:
            spec: VastVolumeSpec | None = VastVolumeSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            spec = None
        if spec is not None and spec.deletion_policy == "Orphan":
            return True, "deletionPolicy Orphan: volume kept on Vast"
        if not any(w.get(key) for key in ("volumeId", "offerId", "creatingSince")):
            # Intent is written before every create: without one, nothing on Vast is ours
            # (and no instance can have mounted it), even with a broken key.
            return True, "no volume was ever created for this object"
        try:
            users = instances_using(
                await self.kube.list_objects("vastinstances", meta["namespace"]), meta["name"]
            )
            if users:
                msg = f"waiting: still mounted by VastInstance {', '.join(users)}"
                w.set(phase=Phase.DELETING, message=msg, usedBy=users)
                w.condition(READY, False, Reason.IN_USE, msg)
                await w.flush()
                return False, msg
            account = await self.account(body, spec)
            rows = await account.volumes.get(newer_than=self.clock() - 0.001)
            name = vast_name(spec, meta["uid"]) if spec is not None else ""
            found = self._find(rows, w, name)
            if found is None:
                return True, "nothing on Vast"
            if found.instance_ids:
                msg = f"waiting: Vast instances {found.instance_ids} still use the volume"
                w.set(phase=Phase.DELETING, message=msg)
                w.condition(READY, False, Reason.IN_USE, msg)
                await w.flush()
                return False, msg
            await account.client.delete_volume(found.id, missing_ok=True)
            rows = await account.volumes.get(newer_than=self.clock() - 0.001)
            if any(r.id == found.id for r in rows):
                return False, f"Vast still lists volume {found.id}"
            self.events(body, "Normal", "Destroyed", f"deleted volume V.{found.id}")
            return True, f"deleted volume {found.id}"
        except (verr.VastError, CredentialsMissing) as exc:
            msg = f"could not delete the Vast volume yet: {exc}"
            w.synced(False, Reason.DELETE_FAILED, msg)
            try:
                await w.flush()
            except Exception:
                log.debug("status write during deletion failed", exc_info=True)
            return False, msg
