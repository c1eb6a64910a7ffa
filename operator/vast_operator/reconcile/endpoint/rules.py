"""Pure rules for VastEndpoint: what to send to Vast and what counts as drift."""

from __future__ import annotations

from typing import Any

from ...api.endpoint import VastEndpointSpec
from ...api.endpoint import Workergroup as WorkergroupSpec
from ...vast.models import Endpoint, EndpointSpec, Workergroup, WorkergroupRequest

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
# What a workergroup request carries from the spec, and what drift compares: only fields that
# `vastai` 1.9.1 sends for a workergroup and that Vast echoes back in `GET /autojobs/`. The spec's
# min_load, target_util, cold_mult, cold_workers, test_workers and max_workers are ignored (the
# CLI no longer sends them for a workergroup; they are the endpoint's settings).
GROUP_FIELDS = (
    "template_hash",
    "launch_args",
    "gpu_ram",
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
