"""How an instance looks on the wire: its full row, and the stored columns the list filters on."""

from __future__ import annotations

from vast_sim import lifecycle, market_events
from vast_sim.models import Instance, JSONDict, Machine, Volume
from vast_sim.offer_rows import storage_hourly


def instance_dph_total(inst: Instance) -> float:
    gpu_hour = inst.bid_price if inst.is_bid and inst.bid_price is not None else inst.dph_base
    return round(gpu_hour + storage_hourly(inst.storage_cost, inst.disk), 6)


def ssh_proxy(inst: Instance) -> tuple[str, int, str]:
    idx = 1 + inst.id % 9
    return f"ssh{idx}.vast.ai", 10000 + inst.id % 50000, str(idx)


def instance_row(
    inst: Instance,
    machine: Machine,
    offer: JSONDict,
    volumes: dict[int, Volume],
    now: float,
) -> JSONDict:
    """The full instance object of `GET /instances/{id}/` and `GET /api/v1/instances/`.

    `offer` is the static offer of the machine for the instance's GPU count (hardware fields).
    Each part below is a consecutive run of keys, so the row keeps the API's key order.
    """
    running = inst.actual_status == "running"
    return {
        **_identity_fields(inst, machine, offer),
        **_image_fields(inst),
        **_network_fields(inst, machine, running),
        **_gpu_fields(inst, machine, offer, running),
        **_cpu_fields(machine, offer, running),
        **_disk_and_link_fields(inst, machine, running),
        **_price_fields(inst, machine, offer),
        **_time_fields(inst, machine, now, running),
        "volume_info": _volume_info(inst, machine, volumes),
    }


def _identity_fields(inst: Instance, machine: Machine, offer: JSONDict) -> JSONDict:
    hw = machine.hw
    return {
        "id": inst.id,
        "machine_id": machine.machine_id,
        "host_id": machine.host_id,
        "bundle_id": inst.bundle_id,
        "cluster_id": hw["cluster_id"],
        "actual_status": inst.actual_status,
        "intended_status": inst.intended_status,
        "cur_state": inst.cur_state,
        "next_state": inst.next_state,
        "status_msg": inst.status_msg,
        "label": inst.label,
        "is_bid": inst.is_bid,
        "min_bid": offer["min_bid"],
        "verification": hw["verification"],
        "rentable": True,
        "external": hw["external"],
        "hosting_type": hw["hosting_type"],
    }


def _image_fields(inst: Instance) -> JSONDict:
    return {
        "image_uuid": inst.image,
        "image_args": list(inst.args or []),
        "image_runtype": inst.runtype,
        "image_login": None,
        "template_id": inst.template_id,
        "template_hash_id": inst.template_hash_id,
        "template_name": inst.template_name,
        "onstart": inst.onstart,
        "jupyter_token": inst.jupyter_token,
        "extra_env": [[k, v] for k, v in inst.env.items()],
    }


def _direct_port_range(ports: dict[str, list[JSONDict]] | None, running: bool) -> tuple[int, int]:
    """First and last host port of the direct mappings; (-1, -1) when there are none."""
    if not running or not ports:
        return -1, -1
    host_ports = [
        int(entries[0]["HostPort"])
        for port, entries in ports.items()
        if int(port.split("/")[0]) < 70000
    ]
    if not host_ports:
        return -1, -1
    return min(host_ports), max(host_ports)


def _network_fields(inst: Instance, machine: Machine, running: bool) -> JSONDict:
    hw = machine.hw
    ssh_host, ssh_port, ssh_idx = ssh_proxy(inst)
    ports = lifecycle.port_map(inst, machine)
    direct_start, direct_end = _direct_port_range(ports, running)
    return {
        "public_ipaddr": hw["public_ipaddr"] + "\n",
        "local_ipaddrs": f"172.17.0.{2 + inst.id % 200} ",
        "ssh_host": ssh_host,
        "ssh_port": ssh_port,
        "ssh_idx": ssh_idx,
        "machine_dir_ssh_port": lifecycle.port_base(inst, machine) - 1,
        "direct_port_count": hw["direct_port_count"],
        "direct_port_start": direct_start,
        "direct_port_end": direct_end,
        "static_ip": hw["static_ip"],
        "geolocation": hw["geolocation"],
        "country_code": (hw["geolocation"] or "").rsplit(",", 1)[-1].strip() or None,
        "ports": ports,
    }


def _gpu_fields(inst: Instance, machine: Machine, offer: JSONDict, running: bool) -> JSONDict:
    hw = machine.hw
    return {
        "num_gpus": inst.num_gpus,
        "gpu_name": hw["gpu_name"],
        "gpu_arch": hw["gpu_arch"],
        "gpu_ram": hw["gpu_ram"],
        "gpu_totalram": hw["gpu_ram"] * inst.num_gpus,
        "gpu_frac": offer["gpu_frac"],
        "gpu_lanes": hw["gpu_lanes"],
        "gpu_mem_bw": hw["gpu_mem_bw"],
        "gpu_util": 0.0 if running else None,
        "gpu_temp": 34.0 if running else None,
        "bw_nvlink": hw["bw_nvlink"],
        "compute_cap": hw["compute_cap"],
        "cuda_max_good": hw["cuda_max_good"],
        "driver_version": hw["driver_version"],
    }


def _cpu_fields(machine: Machine, offer: JSONDict, running: bool) -> JSONDict:
    hw = machine.hw
    return {
        "cpu_name": hw["cpu_name"],
        "cpu_arch": hw["cpu_arch"],
        "cpu_cores": hw["cpu_cores"],
        "cpu_cores_effective": offer["cpu_cores_effective"],
        "cpu_ram": offer["cpu_ram"],
        "cpu_util": 0.01 if running else None,
        "mem_limit": round(offer["cpu_ram"] / 1024.0, 3) if running else None,
        "mem_usage": 0.4 if running else None,
        "vmem_usage": 0.0 if running else None,
    }


def _disk_and_link_fields(inst: Instance, machine: Machine, running: bool) -> JSONDict:
    hw = machine.hw
    return {
        "disk_name": hw["disk_name"],
        "disk_space": inst.disk,
        "disk_bw": hw["disk_bw"],
        "disk_util": round(1.2 / inst.disk, 4) if running and inst.disk else None,
        "disk_usage": 1.2 if running else -1,
        "inet_up": hw["inet_up"],
        "inet_down": hw["inet_down"],
        "inet_up_cost": hw["inet_up_cost"],
        "inet_down_cost": hw["inet_down_cost"],
        "inet_up_billed": 0.0,
        "inet_down_billed": 0.0,
        "pci_gen": hw["pci_gen"],
        "pcie_bw": hw["pcie_bw"],
        "mobo_name": hw["mobo_name"],
        "os_version": hw["os_version"],
    }


def _price_fields(inst: Instance, machine: Machine, offer: JSONDict) -> JSONDict:
    hw = machine.hw
    dph_total = instance_dph_total(inst)
    disk_hour = storage_hourly(inst.storage_cost, inst.disk)
    price_obj = {
        "gpuCostPerHour": round(dph_total - disk_hour, 6),
        "diskHour": round(disk_hour, 6),
        "totalHour": dph_total,
        "discountTotalHour": 0.0,
        "discountedTotalPerHour": dph_total,
    }
    return {
        "dph_base": round(inst.dph_base, 6),
        "dph_total": dph_total,
        "storage_cost": inst.storage_cost,
        "storage_total_cost": round(disk_hour, 6),
        "vram_costperhour": offer["vram_costperhour"],
        "credit_balance": None,
        "credit_discount": None,
        "credit_discount_max": hw["credit_discount_max"],
        "dlperf": offer["dlperf"],
        "dlperf_per_dphtotal": round(offer["dlperf"] / dph_total, 4) if dph_total else 0.0,
        "flops_per_dphtotal": round(offer["total_flops"] / dph_total, 4) if dph_total else 0.0,
        "total_flops": offer["total_flops"],
        "score": round(offer["dlperf"] / dph_total * hw["reliability"] ** 2, 4) if dph_total else 0,
        "reliability2": hw["reliability"],
        "search": price_obj,
        "instance": dict(price_obj),
        "pending_price_increase": market_events.pending_row(inst),
    }


def _time_fields(inst: Instance, machine: Machine, now: float, running: bool) -> JSONDict:
    uptime = (now - inst.running_since) / 60.0 if running and inst.running_since else None
    return {
        "start_date": inst.start_date,
        "end_date": market_events.end_date(inst, machine),
        "uptime_mins": round(uptime, 3) if uptime is not None else None,
        "duration": max(0.0, market_events.end_date(inst, machine) - now),
        "client_run_time": round(now - inst.start_date, 3),
        "host_run_time": round(now - inst.start_date, 3),
        "time_remaining": "",
        "time_remaining_isbid": "",
        "logo": "/static/logos/vastai_small2.png",
        "webpage": None,
    }


def _volume_info(inst: Instance, machine: Machine, volumes: dict[int, Volume]) -> list[JSONDict]:
    info = []
    for link in inst.volume_links:
        vol = volumes.get(int(link["id"]))
        info.append(
            {
                "id": link["id"],
                "name": vol.label if vol else None,
                "mount_path": link.get("mount_path"),
                "total_space": vol.size if vol else None,
                "avail_space": round(vol.size * 0.98, 2) if vol else None,
                "machine_id": machine.machine_id,
            }
        )
    return info


# Stored columns of an instance that `GET /api/v1/instances/` can filter and order on.
INSTANCE_COLUMNS = frozenset(
    {
        "id",
        "machine_id",
        "host_id",
        "bundle_id",
        "actual_status",
        "intended_status",
        "cur_state",
        "next_state",
        "status_msg",
        "label",
        "is_bid",
        "verification",
        "gpu_name",
        "image_uuid",
        "image_runtype",
        "template_id",
        "template_hash_id",
        "start_date",
        "end_date",
        "disk_space",
        "geolocation",
        "ssh_host",
        "ssh_port",
    }
)


def instance_columns(inst: Instance, machine: Machine) -> JSONDict:
    """The filterable/sortable stored columns of an instance (cheap; no full row)."""
    ssh_host, ssh_port, _ = ssh_proxy(inst)
    hw = machine.hw
    return {
        "id": inst.id,
        "machine_id": machine.machine_id,
        "host_id": machine.host_id,
        "bundle_id": inst.bundle_id,
        "actual_status": inst.actual_status,
        "intended_status": inst.intended_status,
        "cur_state": inst.cur_state,
        "next_state": inst.next_state,
        "status_msg": inst.status_msg,
        "label": inst.label,
        "is_bid": inst.is_bid,
        "verification": hw["verification"],
        "gpu_name": hw["gpu_name"],
        "image_uuid": inst.image,
        "image_runtype": inst.runtype,
        "template_id": inst.template_id,
        "template_hash_id": inst.template_hash_id,
        "start_date": inst.start_date,
        "end_date": market_events.end_date(inst, machine),
        "disk_space": inst.disk,
        "geolocation": hw["geolocation"],
        "ssh_host": ssh_host,
        "ssh_port": ssh_port,
    }
