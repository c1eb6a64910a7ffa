"""Workergroups of a VastEndpoint: create, update and delete them to match the spec.

Groups are matched by the ids recorded in status. Each new group's id (and each template made
for an image) is written to status right after it is created, so a crash never forgets one. An
unclaimed group on the endpoint with the same template is adopted (crash healing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...accounts import Account
from ...api.endpoint import VastEndpointSpec, VastEndpointStatus, WorkergroupStatus
from ...api.endpoint import Workergroup as WorkergroupSpec
from ...vast import errors as verr
from ...vast.models import Workergroup
from ..adapter import Ctx
from .rules import group_drift, group_request

EndpointCtx = Ctx[VastEndpointSpec, VastEndpointStatus]


async def template_for(
    account: Account,
    spec: VastEndpointSpec,
    group: WorkergroupSpec,
    recorded: WorkergroupStatus | None,
) -> str | None:
    """The template hash for a workergroup: its own, or a private template for its image
    (made once per image and recorded in status)."""
    if group.image is None:
        return group.template_hash
    if recorded is not None and recorded.image == group.image and recorded.template_hash:
        return recorded.template_hash
    return await account.client.create_template(group.image, f"{spec.endpoint_name}-{group.name}")


def merged(s: VastEndpointStatus, entries: list[WorkergroupStatus]) -> list[WorkergroupStatus]:
    """`entries` plus the recorded entries of other names (dropped groups, not yet gone)."""
    names = {e.name for e in entries}
    return [e.model_copy() for e in entries] + [
        g for g in s.workergroups or [] if g.name not in names
    ]


@dataclass
class GroupSync:
    """The outcome of one sync: status entries, what Vast refused, templates to delete."""

    entries: list[WorkergroupStatus] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    claimed: set[int] = field(default_factory=set)
    stale_templates: list[str] = field(default_factory=list)
    changed: bool = False


async def _rows(
    ctx: EndpointCtx, known: dict[str, int | None], wanted: set[str]
) -> list[Workergroup]:
    rows = await ctx.account.workergroups.get()
    if any(gid is None or all(g.id != gid for g in rows) for gid in (known.get(n) for n in wanted)):
        rows = await ctx.account.workergroups.get(newer_than=ctx.clock() - 0.001)
    return rows


async def sync_groups(ctx: EndpointCtx, endpoint_id: int) -> GroupSync:
    """Create, update and delete workergroups; returns their status and what Vast refused."""
    spec, s, client = ctx.spec, ctx.w.s, ctx.account.client
    recorded = {g.name: g for g in s.workergroups or []}
    known = {name: g.id for name, g in recorded.items()}
    wanted = {g.name: g for g in spec.workergroups or []}
    on_vast = {
        g.id: g for g in await _rows(ctx, known, set(wanted)) if g.endpoint_id == endpoint_id
    }
    out = GroupSync()
    # Private templates made for images that no group runs any more.
    out.stale_templates = [
        rec.template_hash
        for name, rec in recorded.items()
        if name not in wanted and rec.image and rec.template_hash
    ]
    known_ids = {v for v in known.values() if v is not None}
    for name, group in wanted.items():
        gid = known.get(name)
        current = on_vast.get(gid) if gid is not None else None
        entry = WorkergroupStatus(name=name)
        try:
            template_hash = await template_for(ctx.account, spec, group, recorded.get(name))
            if group.image is not None:
                entry.image, entry.template_hash = group.image, template_hash
                s.workergroups = merged(s, [*out.entries, entry.model_copy(update={"id": gid})])
                await ctx.w.flush()  # a template made for an image is recorded at once
            if current is None:
                # Adopt an unclaimed workergroup of ours with the same template.
                current = next(
                    (
                        g
                        for g in on_vast.values()
                        if g.id not in out.claimed
                        and g.id not in known_ids
                        and g.template_hash == template_hash
                    ),
                    None,
                )
            request = group_request(group, endpoint_id, spec.endpoint_name, template_hash)
            if current is None:
                gid = await client.create_workergroup(request)
                out.changed = True
                ctx.event("WorkergroupCreated", f"created workergroup {name}")
            else:
                gid = current.id
                drift = group_drift(group, current, request)
                if drift:
                    await client.update_workergroup(gid, request)
                    out.changed = True
                    ctx.event(
                        "WorkergroupUpdated", f"updated workergroup {name}: {', '.join(drift)}"
                    )
        except verr.PermanentError as exc:
            # Vast refused this group's settings: report it, keep the others going.
            out.refused.append(f"workergroup {name}: {exc.message}")
            ctx.event("WorkergroupRejected", f"{name}: {exc.message}", warning=True)
            if current is not None:
                out.claimed.add(current.id)
                kept = recorded.get(name, entry).model_copy(update={"id": current.id})
                out.entries.append(kept)
            continue
        out.claimed.add(int(gid))
        old = recorded.get(name)
        if old is not None and old.image and old.template_hash not in (None, template_hash):
            out.stale_templates.append(str(old.template_hash))
        entry.id = int(gid)
        if template_hash:
            entry.template_hash = template_hash
        out.entries.append(entry)
        # Record each id at once so a crash never forgets a created workergroup.
        s.workergroups = merged(s, out.entries)
        await ctx.w.flush()
    for gid in on_vast:
        if gid not in out.claimed:
            await client.delete_workergroup(gid, missing_ok=True)
            out.changed = True
            ctx.event("WorkergroupDeleted", f"deleted workergroup {gid}")
    if out.changed:
        ctx.account.workergroups.invalidate()
    for template_hash in out.stale_templates:
        await client.delete_template(template_hash, missing_ok=True)
    return out
