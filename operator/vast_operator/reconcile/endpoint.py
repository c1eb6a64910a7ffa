"""The managed-resource cycle for VastEndpoint: a serverless endpoint and its workergroups.

The endpoint's Vast name is the adoption key (`spec.endpointName`, immutable). Changes are
applied in place with PUT; workergroups are matched by the ids recorded in status, created when
new and deleted when dropped from the spec. Deletion removes the workergroups, then the
endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..accounts import Account
from ..api import endpoint as api
from ..api.endpoint import Phase, VastEndpointSpec
from ..api.endpoint import Workergroup as WorkergroupSpec
from ..vast import errors as verr
from ..vast.models import Endpoint, EndpointSpec, Workergroup, WorkergroupRequest
from .base import (
    ERROR_DELAYS,
    CredentialsMissing,
    ManagedReconciler,
    StatusWriter,
    iso,
    not_created,
    parse_iso,
)
from .conditions import READY, Reason

log = logging.getLogger("vast_operator.endpoint")

ENDPOINT_FIELDS = (
    "min_load",
    "min_cold_load",
    "target_util",
    "cold_mult",
    "cold_workers",
    "max_workers",
    "max_queue_time",
    "target_queue_time",
    "inactivity_timeout",
)
GROUP_FIELDS = (
    "template_hash",
    "launch_args",
    "gpu_ram",
    "min_load",
    "target_util",
    "cold_mult",
    "cold_workers",
    "test_workers",
    "max_workers",
)


def endpoint_request(spec: VastEndpointSpec) -> EndpointSpec:
    values = {f: getattr(spec, f) for f in ENDPOINT_FIELDS if getattr(spec, f) is not None}
    return EndpointSpec(endpoint_name=spec.endpoint_name, **values)


def endpoint_drift(spec: VastEndpointSpec, current: Endpoint) -> list[str]:
    """Fields whose Vast value differs from the spec (unset spec fields are Vast's to choose)."""
    changed = []
    for name in ENDPOINT_FIELDS:
        wanted = getattr(spec, name)
        if wanted is not None and getattr(current, name) != wanted:
            changed.append(name)
    return changed


def group_request(
    group: WorkergroupSpec, endpoint_id: int, endpoint_name: str, template_hash: str | None
) -> WorkergroupRequest:
    values: dict[str, Any] = {
        f: getattr(group, f)
        for f in GROUP_FIELDS
        if f != "template_hash" and getattr(group, f) is not None
    }
    return WorkergroupRequest(
        endpoint_id=endpoint_id,
        endpoint_name=endpoint_name,
        template_hash=template_hash,
        search_params=group.search_params or "",
        **values,
    )


def group_drift(
    group: WorkergroupSpec, current: Workergroup, request: WorkergroupRequest
) -> list[str]:
    changed = []
    for name in GROUP_FIELDS:
        wanted = request.template_hash if name == "template_hash" else getattr(group, name)
        if wanted is not None and getattr(current, name) != wanted:
            changed.append(name)
    # Vast keeps the query string as sent (defaults appended); when it does not echo it back
    # there is nothing to compare, and that is not a change.
    sent = request.effective_search_params()
    if current.search_params is not None and current.search_params.strip() != sent:
        changed.append("search_params")
    return changed


class EndpointReconciler(ManagedReconciler[VastEndpointSpec]):
    plural = api.PLURAL
    spec_model = VastEndpointSpec

    async def _find(
        self, account: Account, w: StatusWriter, name: str, newer_than: float | None = None
    ) -> Endpoint | None:
        """Our endpoint: by the id in status, else by name. The shared listing (one per poll
        interval for all objects) is enough to see it; to decide it is absent, list afresh."""
        found = self._pick(await account.endpoints.get(newer_than=newer_than), w, name)
        if found is None and newer_than is None:
            rows = await account.endpoints.get(newer_than=self.clock() - 0.001)
            found = self._pick(rows, w, name)
        return found

    @staticmethod
    def _pick(rows: list[Endpoint], w: StatusWriter, name: str) -> Endpoint | None:
        current = w.get("endpointId")
        for row in rows:
            if current is not None and row.id == int(current):
                return row
        if not w.get("creatingSince"):
            return None  # never take over an endpoint of the same name that someone else made
        return next((row for row in rows if row.endpoint_name == name), None)

    async def cycle(
        self, body: Mapping[str, Any], spec: VastEndpointSpec, w: StatusWriter
    ) -> float:
        meta = body["metadata"]
        account = await self.account(body, spec)
        client = account.client
        found = await self._find(account, w, spec.endpoint_name)
        creating = parse_iso(w.get("creatingSince"))
        if found is None and creating is not None:
            # A create was sent and its answer never arrived: Vast may still be acting on it.
            settle_until = creating + self.tuning.create_settle
            wait = settle_until - self.clock()
            if wait > 0:
                w.set(
                    phase=Phase.CREATING,
                    message=f"the last create may still land on Vast; checking again in "
                    f"{wait:.0f}s",
                )
                return min(wait + 0.1, self.tuning.busy_interval)
            found = await self._find(account, w, spec.endpoint_name, newer_than=settle_until)
            if found is None:
                w.set(creatingSince=None)
        if found is None:
            if self.tuning.finalizer not in (meta.get("finalizers") or []):
                return self.tuning.busy_interval
            if w.get("endpointId") is not None:
                self.events(
                    body,
                    "Warning",
                    "EndpointLost",
                    f"endpoint {w.get('endpointId')} disappeared from Vast; creating it again",
                )
                w.set(endpointId=None, workergroups=None)
            w.set(
                phase=Phase.CREATING,
                message=f"creating endpoint {spec.endpoint_name}",
                creatingSince=iso(self.clock()),
            )
            w.condition(READY, False, Reason.CREATING, w.get("message"))
            await w.flush()
            try:
                endpoint_id = await client.create_endpoint(endpoint_request(spec))
            except verr.CreateOutcomeUnknownError as exc:
                account.endpoints.invalidate()
                msg = f"the endpoint create has an unknown outcome ({exc.message}); checking Vast"
                w.set(message=msg)
                w.synced(False, Reason.VAST_UNAVAILABLE, msg)
                return self.tuning.busy_interval
            except verr.VastError as exc:
                # Vast answered no: nothing was created, so there is nothing to wait for.
                w.set(creatingSince=None, phase=Phase.PENDING)
                return not_created(w, exc)
            account.endpoints.invalidate()
            w.set(endpointId=endpoint_id, creatingSince=None)
            self.events(body, "Normal", "Created", f"created endpoint {endpoint_id}")
            await w.flush()
            endpoint_state: str | None = "active"
        else:
            endpoint_id = found.id
            endpoint_state = found.endpoint_state
            w.set(endpointId=endpoint_id, creatingSince=None)
            drift = endpoint_drift(spec, found)
            if drift:
                await client.update_endpoint(endpoint_id, endpoint_request(spec))
                account.endpoints.invalidate()
                self.events(body, "Normal", "Updated", f"updated endpoint fields {drift}")

        groups_status, refused = await self._sync_groups(body, spec, w, account, endpoint_id)
        w.set(workergroups=groups_status or None, endpointState=endpoint_state)
        if refused:
            msg = "Vast refused " + "; ".join(refused)
            w.set(phase=Phase.FAILED, message=msg)
            w.condition(READY, False, Reason.VAST_REJECTED, msg)
            w.synced(False, Reason.VAST_REJECTED, msg)
            return ERROR_DELAYS[Reason.VAST_REJECTED]
        w.set(
            phase=Phase.READY,
            message=f"endpoint {endpoint_id} with {len(groups_status)} workergroups",
        )
        w.condition(READY, True, "Ready", w.get("message"))
        w.synced(True)
        return self.tuning.poll_interval * 2

    async def _template(
        self, account: Account, spec: VastEndpointSpec, group: WorkergroupSpec, recorded: Any
    ) -> str | None:
        """The template hash for a workergroup: its own, or a private template for its image
        (made once per image and recorded in status)."""
        if group.image is None:
            return group.template_hash
        if (
            isinstance(recorded, dict)
            and recorded.get("image") == group.image
            and recorded.get("templateHash")
        ):
            return str(recorded["templateHash"])
        return await account.client.create_template(
            group.image, f"{spec.endpoint_name}-{group.name}"
        )

    async def _sync_groups(
        self,
        body: Mapping[str, Any],
        spec: VastEndpointSpec,
        w: StatusWriter,
        account: Account,
        endpoint_id: int,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Create, update and delete workergroups; returns their status and what Vast refused."""
        client = account.client
        recorded = {str(g["name"]): g for g in w.get("workergroups") or []}
        known = {name: g.get("id") for name, g in recorded.items()}
        wanted = {g.name: g for g in spec.workergroups or []}
        rows = await account.workergroups.get()
        if any(
            gid is None or all(g.id != int(gid) for g in rows)
            for gid in (known.get(n) for n in wanted)
        ):
            rows = await account.workergroups.get(newer_than=self.clock() - 0.001)
        on_vast = {g.id: g for g in rows if g.endpoint_id == endpoint_id}
        result: list[dict[str, Any]] = []
        refused: list[str] = []
        claimed: set[int] = set()
        changed = False
        # Private templates made for images that no group runs any more.
        stale_templates = [
            str(rec["templateHash"])
            for name, rec in recorded.items()
            if name not in wanted and rec.get("image") and rec.get("templateHash")
        ]
        for name, group in wanted.items():
            gid = known.get(name)
            current = on_vast.get(int(gid)) if gid is not None else None
            entry: dict[str, Any] = {"name": name}
            try:
                template_hash = await self._template(account, spec, group, recorded.get(name))
                if group.image is not None:
                    entry.update(image=group.image, templateHash=template_hash)
                    w.set(workergroups=self._merged(w, [*result, {**entry, "id": gid}]))
                    await w.flush()  # a template made for an image is recorded at once
                if current is None:
                    # Adopt an unclaimed workergroup of ours with the same template (crash
                    # healing).
                    current = next(
                        (
                            g
                            for g in on_vast.values()
                            if g.id not in claimed
                            and g.id not in {v for v in known.values() if v is not None}
                            and g.template_hash == template_hash
                        ),
                        None,
                    )
                request = group_request(group, endpoint_id, spec.endpoint_name, template_hash)
                if current is None:
                    gid = await client.create_workergroup(request)
                    changed = True
                    self.events(body, "Normal", "WorkergroupCreated", f"created workergroup {name}")
                else:
                    gid = current.id
                    drift = group_drift(group, current, request)
                    if drift:
                        await client.update_workergroup(gid, request)
                        changed = True
                        self.events(
                            body,
                            "Normal",
                            "WorkergroupUpdated",
                            f"updated workergroup {name}: {drift}",
                        )
            except verr.PermanentError as exc:
                # Vast refused this group's settings: report it, keep the others going.
                refused.append(f"workergroup {name}: {exc.message}")
                self.events(body, "Warning", "WorkergroupRejected", f"{name}: {exc.message}")
                if current is not None:
                    claimed.add(current.id)
                    result.append({**recorded.get(name, entry), "id": current.id})
                continue
            claimed.add(int(gid))
            old = recorded.get(name) or {}
            if old.get("image") and old.get("templateHash") not in (None, template_hash):
                stale_templates.append(str(old["templateHash"]))
            entry["id"] = int(gid)
            if template_hash:
                entry["templateHash"] = template_hash
            result.append(entry)
            # Record each id at once so a crash never forgets a created workergroup.
            w.set(workergroups=self._merged(w, result))
            await w.flush()
        for gid in on_vast:
            if gid not in claimed:
                await client.delete_workergroup(gid, missing_ok=True)
                changed = True
                self.events(body, "Normal", "WorkergroupDeleted", f"deleted workergroup {gid}")
        if changed:
            account.workergroups.invalidate()
        for template_hash in stale_templates:
            await client.delete_template(template_hash, missing_ok=True)
        return result, refused

    @staticmethod
    def _merged(w: StatusWriter, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`entries` plus the recorded entries of other names (dropped groups, not yet gone)."""
        names = {e["name"] for e in entries}
        fresh = [{k: v for k, v in e.items() if v is not None} for e in entries]
        return fresh + [g for g in w.get("workergroups") or [] if g.get("name") not in names]

    async def delete(self, body: Mapping[str, Any]) -> tuple[bool, str]:
        w = StatusWriter(self.kube, self.plural, body)
        try:
            spec: VastEndpointSpec | None = VastEndpointSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            spec = None
        if spec is not None and spec.deletion_policy == "Orphan":
            return True, "deletionPolicy Orphan: endpoint kept on Vast"
        if not any(w.get(key) for key in ("endpointId", "creatingSince")):
            # Intent is written before every create: without one, nothing on Vast is ours,
            # even with a broken key.
            return True, "no endpoint was ever created for this object"
        try:
            account = await self.account(body, spec)
            found = await self._find(account, w, spec.endpoint_name if spec else "")
            if found is None:
                return True, "nothing on Vast"
            w.set(phase=Phase.DELETING, message=f"deleting endpoint {found.id}")
            w.condition(READY, False, Reason.DELETING, w.get("message"))
            await w.flush()
            rows = await account.workergroups.get(newer_than=self.clock() - 0.001)
            for group in rows:
                if group.endpoint_id == found.id:
                    await account.client.delete_workergroup(group.id, missing_ok=True)
            await account.client.delete_endpoint(found.id, missing_ok=True)
            for group in w.get("workergroups") or []:
                if group.get("image") and group.get("templateHash"):
                    await account.client.delete_template(group["templateHash"], missing_ok=True)
            account.endpoints.invalidate()
            account.workergroups.invalidate()
            if await account.client.get_endpoint(found.id) is not None:
                return False, f"Vast still has endpoint {found.id}"
            self.events(body, "Normal", "Destroyed", f"deleted endpoint {found.id}")
            return True, f"deleted endpoint {found.id}"
        except (verr.VastError, CredentialsMissing) as exc:
            msg = f"could not delete the Vast endpoint yet: {exc}"
            w.synced(False, Reason.DELETE_FAILED, msg)
            try:
                await w.flush()
            except Exception:
                log.debug("status write during deletion failed", exc_info=True)
            return False, msg
