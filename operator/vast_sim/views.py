"""How records other than instances look on the wire: volume, endpoint, workergroup, template
and ssh key rows (instance rows: instance_view.py)."""

from __future__ import annotations

from typing import Any

from vast_sim.models import (
    PRIMARY_USER_ID,
    Endpoint,
    JSONDict,
    Machine,
    SshKey,
    Template,
    Volume,
    Workergroup,
)
from vast_sim.offer_rows import storage_hourly

USER_ID = PRIMARY_USER_ID


def volume_row(vol: Volume, machine: Machine, instance_ids: list[int], now: float) -> JSONDict:
    hw = machine.hw
    return {
        "id": vol.id,
        "type": "local_volume",
        "status": "active",
        "label": vol.label,
        "disk_space": vol.size,
        "disk_name": hw["disk_name"],
        "machine_id": machine.machine_id,
        "host_id": machine.host_id,
        "cluster_id": hw["cluster_id"],
        "public_ipaddr": hw["public_ipaddr"] + "\n",
        "instances": instance_ids,
        "start_date": vol.start_date,
        "end_date": machine.end_date,
        "storage_cost": vol.storage_cost,
        "storage_total_cost": round(storage_hourly(vol.storage_cost, vol.size), 6),
        "driver_version": hw["driver_version"],
        "cuda_max_good": hw["cuda_max_good"],
        "reliability2": hw["reliability"],
        "inet_up": hw["inet_up"],
        "inet_down": hw["inet_down"],
        "verification": hw["verification"],
        "geolocation": hw["geolocation"],
        "static_ip": hw["static_ip"],
        "cpu_name": hw["cpu_name"],
        "mobo_name": hw["mobo_name"],
        "os_version": hw["os_version"],
        "cpu_arch": hw["cpu_arch"],
    }


def endpoint_row(ep: Endpoint) -> JSONDict:
    return {
        "id": ep.id,
        "endpoint_name": ep.endpoint_name,
        "endpoint_state": ep.endpoint_state,
        "min_load": ep.min_load,
        "min_cold_load": ep.min_cold_load,
        "target_util": ep.target_util,
        "cold_mult": ep.cold_mult,
        "cold_workers": ep.cold_workers,
        "max_workers": ep.max_workers,
        "max_queue_time": ep.max_queue_time,
        "target_queue_time": ep.target_queue_time,
        "inactivity_timeout": ep.inactivity_timeout,
        "api_key": ep.api_key,
        "user_id": ep.owner,
        "created_at": ep.created_at,
        "auto_delete_in_seconds": None,
        "auto_delete_due_24h": False,
    }


def workergroup_row(wg: Workergroup, endpoint_api_key: str | None) -> JSONDict:
    return {
        "id": wg.id,
        "endpoint_id": wg.endpoint_id,
        "endpoint_name": wg.endpoint_name,
        "template_hash": wg.template_hash,
        "template_id": wg.template_id,
        "search_params": wg.search_params,
        "search_query": wg.search_query,
        "launch_args": wg.launch_args,
        "gpu_ram": wg.gpu_ram,
        "min_load": wg.min_load,
        "min_cold_load": wg.min_cold_load,
        "target_util": wg.target_util,
        "cold_mult": wg.cold_mult,
        "cold_workers": wg.cold_workers,
        "test_workers": wg.test_workers,
        "max_workers": wg.max_workers,
        "api_key": endpoint_api_key,
        "user_id": wg.owner,
        "created_at": wg.created_at,
    }


def template_row(t: Template) -> JSONDict:
    extra: dict[str, Any] = dict(t.extra)
    row: JSONDict = {
        "id": t.id,
        "hash_id": t.hash_id,
        "name": t.name,
        "image": t.image,
        "tag": t.tag,
        "env": t.env,
        "onstart": t.onstart,
        "runtype": t.runtype,
        "use_ssh": "ssh" in t.runtype,
        "ssh_direct": "ssh_direc" in t.runtype,
        "jup_direct": "jupyter_direc" in t.runtype,
        "creator_id": extra.pop("creator_id", t.owner if t.owner is not None else USER_ID),
        "created_at": t.created_at,
        "private": extra.pop("private", False),
        "recommended": extra.pop("recommended", False),
        "recommended_disk_space": extra.pop("recommended_disk_space", 10),
        "count_created": extra.pop("count_created", 0),
        "default_tag": t.tag,
    }
    row.update(extra)
    return row


def ssh_key_row(key: SshKey) -> JSONDict:
    return {
        "id": key.id,
        "user_id": key.owner,
        "key": key.public_key,
        "public_key": key.public_key,
        "name": key.name,
        "created_at": key.created_at,
        "deleted_at": None,
    }
