"""Plain records of the simulated world: machines, instances, volumes, endpoints and friends.

Every record is a dataclass of JSON-friendly values so the world can be dumped to and loaded
from the state file with `to_dict` / `from_dict`. Behaviour lives elsewhere (lifecycle.py, the
world/ package); these are only the shapes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

JSONDict = dict[str, Any]

# The user id of the primary account (the one whose key is SimConfig.api_key); records of
# state files written before accounts existed belong to it.
PRIMARY_USER_ID = 318_452


def record_to_dict(obj: Any) -> JSONDict:
    """A deep, JSON-serialisable copy of a record."""
    return dataclasses.asdict(obj)


def record_from_dict(cls: type[T], data: JSONDict) -> T:
    """Build a record from a dict, ignoring keys the record does not know (older state files)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Account:
    """One Vast account: its key, credit and secrets. Records carry its `user_id` as owner."""

    user_id: int
    api_key: str
    username: str
    credit: float
    secrets: dict[str, str] = field(default_factory=dict)


@dataclass
class Machine:
    """A host machine in the market. Offers are derived from it (one per GPU-count slot)."""

    machine_id: int
    host_id: int
    gpu_name: str
    total_gpus: int
    free_gpus: int
    # Static hardware/network/location fields shared by its offers and instances.
    hw: JSONDict
    dph_per_gpu: float
    min_bid_per_gpu: float
    storage_cost: float  # $/GB/month
    disk_space: float  # GB usable by instance disks on the whole machine
    vol_space_total: float  # GB a renter can carve volumes out of
    vol_space_free: float
    vol_offer_id: int
    port_range_start: int
    start_date: float
    end_date: float
    # GPU-count slot ("1", "2", "4", ...) -> current offer id of that slot.
    slots: dict[str, int] = field(default_factory=dict)
    listed: bool = True
    never_boot: bool = False
    oci_error: bool = False
    # A competing bid, $/h per GPU (admin route): raises the minimum bid (market_events.py).
    competing_bid_per_gpu: float | None = None


@dataclass
class Instance:
    """A rented contract. Status fields are advanced lazily by lifecycle.advance()."""

    id: int
    machine_id: int
    bundle_id: int  # the offer id it was created from
    num_gpus: int
    is_bid: bool
    bid_price: float | None
    dph_base: float
    storage_cost: float
    disk: float
    image: str
    runtype: str
    env: dict[str, str]
    onstart: str | None
    args: list[str] | None
    label: str | None
    api_key: str
    jupyter_token: str
    start_date: float
    template_id: int | None = None
    template_hash_id: str | None = None
    template_name: str | None = None
    image_login: str | None = None
    intended_status: str = "running"
    actual_status: str | None = None
    cur_state: str = "running"
    next_state: str = "running"
    status_msg: str | None = None
    # Lifecycle bookkeeping (see lifecycle.py).
    phase: str = "provisioning"
    phase_started: float = 0.0
    phase_duration: float = 0.0
    loading_duration: float = 0.0
    running_since: float | None = None
    gpus_held: bool = True
    volume_links: list[JSONDict] = field(default_factory=list)
    ssh_keys: list[JSONDict] = field(default_factory=list)
    owner: int = PRIMARY_USER_ID
    # Listing-lag fault: absent from GET /api/v1/instances/ until this (simulated) time.
    listed_after: float | None = None
    # The container (container.py): runs started, the planned exit of this run, its log.
    runs: int = 0
    exit_at: float | None = None
    exit_code: int | None = None
    log_lines: list[str] = field(default_factory=list)
    # The market (market_events.py): a contract end earlier than the machine's (a rejected
    # price increase), and the host's pending price increase {"dph_base", "effective_date"}.
    contract_end: float | None = None
    pending_price: JSONDict | None = None


@dataclass
class Volume:
    """A local volume: a slice of one machine's disk, usable only by instances on it."""

    id: int
    machine_id: int
    size: float
    label: str | None
    start_date: float
    storage_cost: float
    owner: int = PRIMARY_USER_ID


@dataclass
class SshKey:
    id: int
    public_key: str
    created_at: float
    name: str | None = None
    owner: int = PRIMARY_USER_ID


@dataclass
class Template:
    id: int
    hash_id: str
    name: str
    image: str
    tag: str | None
    env: str
    onstart: str | None
    runtype: str
    created_at: float
    extra: JSONDict = field(default_factory=dict)
    owner: int | None = None  # None: a public template every account sees


@dataclass
class Endpoint:
    id: int
    endpoint_name: str | None
    endpoint_state: str
    min_load: float
    min_cold_load: float
    target_util: float
    cold_mult: float
    cold_workers: int
    max_workers: int
    max_queue_time: float | None
    target_queue_time: float | None
    inactivity_timeout: int | None
    api_key: str
    created_at: float
    autoscaler_instance: str = "prod"
    owner: int = PRIMARY_USER_ID


@dataclass
class Workergroup:
    id: int
    endpoint_id: int
    endpoint_name: str | None
    template_hash: str | None
    template_id: int | None
    search_params: Any  # as sent: CLI query string or query dict
    search_query: JSONDict
    launch_args: str | None
    gpu_ram: float
    min_load: float
    min_cold_load: float
    target_util: float
    cold_mult: float
    cold_workers: int
    test_workers: int
    max_workers: int
    created_at: float
    autoscaler_instance: str = "prod"
    owner: int = PRIMARY_USER_ID
