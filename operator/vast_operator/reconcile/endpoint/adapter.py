"""VastEndpoint's adapter for the managed loop: a serverless endpoint and its workergroups.

The endpoint's Vast name is the adoption key (`spec.endpointName`, immutable), used only while
we were creating it. Changes are applied in place with PUT; workergroups follow the spec
(`groups.py`). Deletion removes the workergroups, then the endpoint, then the private templates.
"""

from __future__ import annotations

from typing import ClassVar

from ...accounts import Account
from ...api import endpoint as api
from ...api.endpoint import Phase, VastEndpointSpec, VastEndpointStatus
from ...vast import errors as verr
from ...vast.models import Endpoint
from ..adapter import CreateResult, Ctx, DeleteResult, Observation
from ..conditions import Reason
from ..errors import delay_for
from .groups import sync_groups
from .rules import endpoint_drift, endpoint_request

EndpointCtx = Ctx[VastEndpointSpec, VastEndpointStatus]


def pick(rows: list[Endpoint], s: VastEndpointStatus, name: str) -> Endpoint | None:
    for row in rows:
        if s.endpoint_id is not None and row.id == int(s.endpoint_id):
            return row
    if not s.creating_since:
        return None  # never take over an endpoint of the same name that someone else made
    return next((row for row in rows if row.endpoint_name == name), None)


async def find(
    account: Account, s: VastEndpointStatus, name: str, now: float, newer_than: float | None
) -> Endpoint | None:
    """Our endpoint: by the id in status, else by name. The shared listing (one per poll
    interval for all objects) is enough to see it; to decide it is absent, list afresh (and
    after `newer_than`, the loop's last intent or settle window)."""
    found = pick(await account.endpoints.get(), s, name)
    if found is None:
        fresh = max(now - 0.001, newer_than or 0.0)
        found = pick(await account.endpoints.get(newer_than=fresh), s, name)
    return found


class EndpointAdapter:
    plural: ClassVar[str] = api.PLURAL
    spec_model: ClassVar[type[VastEndpointSpec]] = VastEndpointSpec
    status_model: ClassVar[type[VastEndpointStatus]] = VastEndpointStatus
    id_field: ClassVar[str] = "endpoint_id"
    releases_on_orphan: ClassVar[bool] = False  # an endpoint carries no operator label
    created_markers: ClassVar[tuple[str, ...]] = (
        "endpoint_id",
        "creating_since",
        "outcome_unknown_since",
    )

    async def observe(self, ctx: EndpointCtx, newer_than: float | None) -> Observation[Endpoint]:
        name = ctx.spec.endpoint_name
        return Observation(await find(ctx.account, ctx.w.s, name, ctx.clock(), newer_than))

    async def absent(self, ctx: EndpointCtx, observation: Observation[Endpoint]) -> float | None:
        s = ctx.w.s
        if s.endpoint_id is not None:
            ctx.event(
                "EndpointLost",
                f"endpoint {s.endpoint_id} disappeared from Vast; creating it again",
                warning=True,
            )
            for recorded in s.workergroups or []:  # its private templates go with it
                if recorded.image and recorded.template_hash:
                    await ctx.account.client.delete_template(
                        recorded.template_hash, missing_ok=True
                    )
            s.endpoint_id, s.workergroups = None, None
        return None

    async def create(self, ctx: EndpointCtx) -> CreateResult[Endpoint]:
        s, account = ctx.w.s, ctx.account
        name = ctx.spec.endpoint_name
        rows = await account.endpoints.get(newer_than=ctx.clock() - 0.001)
        if any(row.endpoint_name == name for row in rows):
            msg = f"a Vast endpoint named {name} already exists and is not this object's"
            ctx.w.phase(Phase.PENDING, Reason.NAME_TAKEN, msg)
            ctx.w.synced(False, Reason.NAME_TAKEN, msg)
            return CreateResult(ctx.tuning.idle_interval)
        await ctx.intend(Phase.CREATING, Reason.CREATING, f"creating endpoint {name}")
        try:
            endpoint_id = await account.client.create_endpoint(endpoint_request(ctx.spec))
        except verr.CreateOutcomeUnknownError:
            account.endpoints.invalidate()
            raise
        except verr.VastError:
            # Vast answered no: nothing was created, so there is nothing to wait for.
            s.creating_since, s.phase = None, Phase.PENDING
            raise
        account.endpoints.invalidate()
        s.endpoint_id, s.creating_since = endpoint_id, None
        ctx.event("Created", f"created endpoint {endpoint_id}")
        await ctx.w.flush()
        # The workergroups follow on the next pass, which finds the endpoint in a new listing.
        return CreateResult(0.2)

    async def update(self, ctx: EndpointCtx, observation: Observation[Endpoint]) -> float:
        found, s, account = observation.resource, ctx.w.s, ctx.account
        assert found is not None
        s.endpoint_id, s.creating_since = found.id, None
        drift = endpoint_drift(ctx.spec, found)
        if drift:
            await account.client.update_endpoint(found.id, endpoint_request(ctx.spec))
            account.endpoints.invalidate()
            ctx.event("Updated", f"updated endpoint fields {', '.join(drift)}")
        sync = await sync_groups(ctx, found.id)
        s.workergroups = sync.entries or None
        s.endpoint_state = found.endpoint_state
        if sync.refused:
            msg = "Vast refused " + "; ".join(sync.refused)
            ctx.w.phase(Phase.FAILED, Reason.VAST_REJECTED, msg)
            ctx.w.synced(False, Reason.VAST_REJECTED, msg)
            return delay_for(Reason.VAST_REJECTED)
        msg = f"endpoint {found.id} with {len(sync.entries)} workergroups"
        ctx.w.phase(Phase.READY, Reason.READY, msg, ready=True)
        ctx.w.synced(True)
        return ctx.tuning.poll_interval * 2

    async def release(self, ctx: Ctx[VastEndpointSpec | None, VastEndpointStatus]) -> None:
        return None  # an endpoint carries no operator label

    async def delete(
        self, ctx: Ctx[VastEndpointSpec | None, VastEndpointStatus], newer_than: float | None
    ) -> DeleteResult:
        s, account, client = ctx.w.s, ctx.account, ctx.account.client
        name = ctx.spec.endpoint_name if ctx.spec is not None else ""
        since = max(ctx.clock() - 0.001, newer_than or 0.0)
        found = await find(account, s, name, ctx.clock(), since)
        if found is None:
            return DeleteResult(True, Reason.NEVER_CREATED, "nothing on Vast")
        ctx.w.phase(Phase.DELETING, Reason.DELETING, f"deleting endpoint {found.id}")
        await ctx.w.flush()
        for group in await account.workergroups.get(newer_than=ctx.clock() - 0.001):
            if group.endpoint_id == found.id:
                await client.delete_workergroup(group.id, missing_ok=True)
        await client.delete_endpoint(found.id, missing_ok=True)
        for recorded in s.workergroups or []:
            if recorded.image and recorded.template_hash:
                await client.delete_template(recorded.template_hash, missing_ok=True)
        account.endpoints.invalidate()
        account.workergroups.invalidate()
        # Gone means absent from a listing begun after the delete (`GET /endptjobs/`, the route
        # Vast documents): an answer about the one endpoint can be a 404 for the route itself.
        listed = await account.endpoints.get(newer_than=ctx.clock() - 0.001)
        if any(row.id == found.id for row in listed):
            return DeleteResult(False, Reason.DELETING, f"Vast still has endpoint {found.id}")
        return DeleteResult(True, Reason.DESTROYED, f"deleted endpoint {found.id}")
