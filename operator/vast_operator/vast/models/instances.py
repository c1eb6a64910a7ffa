"""Instances as Vast lists them, and the SSH keys attached to one."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field

from .base import (
    Lenient,
    OptBool,
    OptFloat,
    OptInt,
    OptPort,
    OptSecret,
    OptStr,
    StrippedStr,
    VastModel,
)

__all__ = ["Instance", "InstanceSshKey", "PendingPriceIncrease", "PortBinding", "parse_ssh_keys"]


class PortBinding(VastModel):
    """One docker-style port binding; Vast sends `HostPort` as a string."""

    host_ip: StrippedStr = Field(default=None, alias="HostIp")
    host_port: OptInt = Field(default=None, alias="HostPort")


def _ports_or_none(value: Any) -> Any:
    """`ports` is a dict on running instances; the v0 docs show an int list (ignore it)."""
    return value if isinstance(value, dict) else None


def _pairs_to_list(value: Any) -> Any:
    """`extra_env` is a list of [key, value] pairs; the CLI turns it into a dict. Accept both."""
    if isinstance(value, dict):
        return [[str(k), "" if v is None else str(v)] for k, v in value.items()]
    if isinstance(value, list):
        return [
            [str(item[0]), "" if item[1] is None else str(item[1])]
            for item in value
            if isinstance(item, list | tuple) and len(item) == 2
        ]
    return None


class PendingPriceIncrease(VastModel):
    """A price increase the host announced for a running contract.

    UNCONFIRMED: Vast's renter console lets a renter accept or reject a host's price increase,
    but neither its published OpenAPI documents nor the vastai CLI (1.9.1) name the field or
    the route. The shape is the simulator's strictest plausible model (docs/simulator.md): the
    new GPU price (`dph_base`), the new total (`dph_total`, storage included) and when it
    applies unless rejected (`effective_date`, epoch seconds).
    """

    dph_base: OptFloat = None
    dph_total: OptFloat = None
    effective_date: OptFloat = None


GONE_STATES = frozenset({"unloaded", "destroyed", "deleted"})


class Instance(VastModel):
    """An instance row from `GET /api/v1/instances/` or `GET /api/v0/instances/{id}/`.

    Unlike other answers, the fields declared here are all that is kept: a row has about a
    hundred more, and every snapshot holds every instance of the account. Kept, they were
    about 24 MB of Python objects per snapshot of a thousand rows (docs/benchmarks.md).
    """

    model_config = ConfigDict(extra="ignore")

    id: int
    machine_id: OptInt = None
    host_id: OptInt = None
    bundle_id: OptInt = None
    actual_status: OptStr = None
    intended_status: OptStr = None
    cur_state: OptStr = None
    next_state: OptStr = None
    status_msg: OptStr = None
    label: OptStr = None
    ssh_host: StrippedStr = None
    ssh_port: OptInt = None
    ssh_idx: OptStr = None
    public_ipaddr: StrippedStr = None
    ports: Annotated[
        dict[str, list[PortBinding] | None] | None, Lenient, BeforeValidator(_ports_or_none)
    ] = None
    direct_port_count: OptInt = None
    direct_port_start: OptPort = None
    direct_port_end: OptPort = None
    machine_dir_ssh_port: OptPort = None
    gpu_name: OptStr = None
    num_gpus: OptInt = None
    gpu_ram: OptFloat = None
    disk_space: OptFloat = None
    geolocation: OptStr = None
    verification: OptStr = None
    dph_base: OptFloat = None
    dph_total: OptFloat = None
    storage_cost: OptFloat = None
    # $/h of the instance's disk (UNCONFIRMED: the simulator's reading of Vast's field).
    storage_total_cost: OptFloat = None
    is_bid: OptBool = None
    min_bid: OptFloat = None
    image_uuid: OptStr = None
    image_runtype: OptStr = None
    image_args: Annotated[list[str] | None, Lenient] = None
    template_hash_id: OptStr = None
    onstart: OptStr = None
    extra_env: Annotated[list[list[str]] | None, Lenient, BeforeValidator(_pairs_to_list)] = Field(
        default=None, repr=False
    )
    jupyter_token: OptSecret = Field(default=None, repr=False)
    start_date: OptFloat = None
    end_date: OptFloat = None
    # Seconds since start_date when the row was made (UNCONFIRMED): with start_date, Vast's
    # clock at listing time, which billing uses to place what it sees on Vast's time.
    client_run_time: OptFloat = None
    pending_price_increase: Annotated[PendingPriceIncrease | None, Lenient] = None
    volume_info: Annotated[list[dict[str, Any]] | None, Lenient] = None

    @property
    def gone(self) -> bool:
        """Destroyed: Vast may still list the row while it unloads, but it bills nothing and
        can be neither used nor adopted."""
        return (self.cur_state or "") in GONE_STATES or (self.actual_status or "") in GONE_STATES

    @property
    def env(self) -> dict[str, str]:
        """`extra_env` as a dict (later pairs win, like the CLI's conversion)."""
        return {key: value for key, value in self.extra_env or []}

    def host_port(self, internal: int, proto: str = "tcp") -> int | None:
        """The public port that maps to `internal`/`proto`, or None when not (yet) mapped."""
        bindings = (self.ports or {}).get(f"{internal}/{proto}") or []
        for binding in bindings:
            if binding.host_port is not None:
                return binding.host_port
        return None


class InstanceSshKey(VastModel):
    """A key attached to an instance (`GET /api/v0/instances/{id}/ssh/`)."""

    id: int
    name: OptStr = None
    public_key: OptStr = None


def parse_ssh_keys(raw: Any) -> list[InstanceSshKey]:
    """`ssh_keys` of `GET /instances/{id}/ssh/` is a JSON *string* of a list; accept a list."""
    if isinstance(raw, str):
        raw = json.loads(raw) if raw.strip() else []
    if not isinstance(raw, list):
        return []
    return [InstanceSshKey.model_validate(item) for item in raw if isinstance(item, dict)]
