"""How offers look on the wire: GPU offers and local-volume offers of a machine.

`offer_static` derives the search-independent part of an offer from its machine and GPU-count
slot; `priced_offer` adds what depends on the search (type, allocated storage, current time).
"""

from __future__ import annotations

from vast_sim.models import JSONDict, Machine

HOURS_PER_MONTH = 30 * 24


def offer_static(machine: Machine, size: int, offer_id: int) -> JSONDict:
    """The search-independent fields of the offer for `size` GPUs of `machine`."""
    hw = machine.hw
    frac = size / machine.total_gpus
    dph_base = round(machine.dph_per_gpu * size, 6)
    # A competing bid (market_events.py) raises what a bid must reach.
    min_bid_per_gpu = max(machine.min_bid_per_gpu, machine.competing_bid_per_gpu or 0.0)
    disk_space = round(machine.disk_space * frac, 1)
    total_flops = round(hw["tflops_per_gpu"] * size, 3)
    dlperf = round(hw["dlperf_per_gpu"] * size * (0.9 + 0.1 * hw["reliability"]), 4)
    return {
        "id": offer_id,
        "ask_contract_id": offer_id,
        "bundle_id": offer_id,
        "bundled_results": None,
        "machine_id": machine.machine_id,
        "host_id": machine.host_id,
        "cluster_id": hw["cluster_id"],
        "num_gpus": size,
        "gpu_name": hw["gpu_name"],
        "gpu_ram": hw["gpu_ram"],
        "gpu_total_ram": hw["gpu_ram"] * size,
        "gpu_frac": round(frac, 4),
        "gpu_arch": hw["gpu_arch"],
        "gpu_ids": [machine.machine_id * 100 + i for i in range(size)],
        "gpu_lanes": hw["gpu_lanes"],
        "gpu_mem_bw": hw["gpu_mem_bw"],
        "gpu_max_power": hw["gpu_max_power"],
        "gpu_max_temp": hw["gpu_max_temp"],
        "gpu_display_active": hw["gpu_display_active"],
        "compute_cap": hw["compute_cap"],
        "cuda_max_good": hw["cuda_max_good"],
        "driver_version": hw["driver_version"],
        "driver_vers": hw["driver_vers"],
        "bw_nvlink": hw["bw_nvlink"],
        "total_flops": total_flops,
        "dlperf": dlperf,
        "cpu_name": hw["cpu_name"],
        "cpu_cores": hw["cpu_cores"],
        "cpu_cores_effective": round(hw["cpu_cores"] * frac, 1),
        "cpu_ghz": hw["cpu_ghz"],
        "cpu_ram": int(hw["cpu_ram"] * frac),
        "cpu_arch": hw["cpu_arch"],
        "has_avx": hw["has_avx"],
        "mobo_name": hw["mobo_name"],
        "pci_gen": hw["pci_gen"],
        "pcie_bw": hw["pcie_bw"],
        "disk_space": disk_space,
        "disk_bw": hw["disk_bw"],
        "disk_name": hw["disk_name"],
        "inet_up": hw["inet_up"],
        "inet_down": hw["inet_down"],
        "inet_up_cost": hw["inet_up_cost"],
        "inet_down_cost": hw["inet_down_cost"],
        "internet_up_cost_per_tb": round(hw["inet_up_cost"] * 1024, 3),
        "internet_down_cost_per_tb": round(hw["inet_down_cost"] * 1024, 3),
        "direct_port_count": hw["direct_port_count"],
        "public_ipaddr": hw["public_ipaddr"] + "\n",
        "static_ip": hw["static_ip"],
        "geolocation": hw["geolocation"],
        "geolocode": hw["geolocode"],
        "hostname": hw["hostname"],
        "dph_base": dph_base,
        "min_bid": round(min_bid_per_gpu * size, 6),
        "storage_cost": machine.storage_cost,
        "vram_costperhour": round(dph_base / (hw["gpu_ram"] * size / 1024), 6),
        "credit_discount_max": hw["credit_discount_max"],
        "platform_fee": 0.0,
        "external": hw["external"],
        "hosting_type": hw["hosting_type"],
        "reliability": hw["reliability"],
        "reliability2": hw["reliability"],
        "reliability_mult": round(hw["reliability"] ** 2, 4),
        "expected_reliability": hw["reliability"],
        "verification": hw["verification"],
        "vericode": {"verified": 1, "unverified": 0, "deverified": -1}[hw["verification"]],
        "vms_enabled": hw["vms_enabled"],
        "is_vm_deverified": False,
        "resource_type": "gpu",
        "os_version": hw["os_version"],
        "logo": "/static/logos/vastai_small2.png",
        "webpage": None,
        "start_date": machine.start_date,
        "end_date": machine.end_date,
        "nw_disk_min_bw": None,
        "nw_disk_max_bw": None,
        "nw_disk_avg_bw": None,
    }


def storage_hourly(storage_cost: float, gigabytes: float) -> float:
    """$/h of `gigabytes` of disk at `storage_cost` $/GB/month."""
    return storage_cost * gigabytes / HOURS_PER_MONTH


def priced_offer(
    static: JSONDict,
    machine: Machine,
    now: float,
    offer_type: str,
    allocated_storage: float,
) -> JSONDict:
    """A full offer row as `POST /bundles/` returns it, priced for this search."""
    row = dict(static)
    disk_hour = storage_hourly(machine.storage_cost, allocated_storage)
    gpu_hour = static["min_bid"] if offer_type == "bid" else static["dph_base"]
    total = round(gpu_hour + disk_hour, 6)
    discount_rate = static["credit_discount_max"]
    discounted = round(static["dph_base"] * (1 - discount_rate) + disk_hour, 6)
    duration = max(0.0, machine.end_date - now)
    row["dph_total"] = total
    row["dph_total_adj"] = total
    row["storage_total_cost"] = round(disk_hour, 6)
    row["discount_rate"] = discount_rate if offer_type == "reserved" else 0.0
    row["discounted_hourly"] = discounted if offer_type == "reserved" else total
    row["discounted_dph_total"] = discounted
    row["dlperf_per_dphtotal"] = round(static["dlperf"] / total, 4) if total else 0.0
    row["flops_per_dphtotal"] = round(static["total_flops"] / total, 4) if total else 0.0
    row["score"] = round(row["dlperf_per_dphtotal"] * static["reliability_mult"], 4)
    row["duration"] = duration
    row["time_remaining"] = f"{duration / 86400:.1f} days"
    row["time_remaining_isbid"] = f"{duration / 86400:.1f} days" if offer_type == "bid" else ""
    row["is_bid"] = offer_type == "bid"
    row["rentable"] = True
    row["rented"] = False
    row["rn"] = None
    price_obj = {
        "gpuCostPerHour": gpu_hour,
        "diskHour": round(disk_hour, 6),
        "totalHour": total,
        "discountTotalHour": round(total - discounted, 6) if offer_type == "reserved" else 0.0,
        "discountedTotalPerHour": discounted if offer_type == "reserved" else total,
    }
    row["search"] = price_obj
    row["instance"] = dict(price_obj)
    if machine.vol_space_free >= 1:
        row["avail_vol_ask_id"] = machine.vol_offer_id
        row["avail_vol_size"] = machine.vol_space_free
        row["avail_vol_dph"] = round(
            storage_hourly(machine.storage_cost, machine.vol_space_free), 6
        )
    else:
        row["avail_vol_ask_id"] = None
        row["avail_vol_size"] = 0.0
        row["avail_vol_dph"] = 0.0
    return row


def volume_offer(machine: Machine, now: float, allocated_storage: float) -> JSONDict:
    """A local volume offer row as `POST /volumes/search/` returns it."""
    hw = machine.hw
    disk_hour = storage_hourly(machine.storage_cost, allocated_storage)
    return {
        "id": machine.vol_offer_id,
        "ask_contract_id": machine.vol_offer_id,
        "bundle_id": machine.vol_offer_id,
        "machine_id": machine.machine_id,
        "host_id": machine.host_id,
        "cluster_id": hw["cluster_id"],
        "disk_space": machine.vol_space_free,
        "disk_name": hw["disk_name"],
        "disk_bw": hw["disk_bw"],
        "storage_cost": machine.storage_cost,
        "storage_total_cost": round(disk_hour, 6),
        "dph_total": round(disk_hour, 6),
        "cuda_max_good": hw["cuda_max_good"],
        "driver_version": hw["driver_version"],
        "driver_vers": hw["driver_vers"],
        "cpu_ghz": hw["cpu_ghz"],
        "cpu_arch": hw["cpu_arch"],
        "gpu_arch": hw["gpu_arch"],
        "has_avx": hw["has_avx"],
        "pci_gen": hw["pci_gen"],
        "pcie_bw": hw["pcie_bw"],
        "total_flops": round(hw["tflops_per_gpu"] * machine.total_gpus, 3),
        "inet_up": hw["inet_up"],
        "inet_down": hw["inet_down"],
        "reliability": hw["reliability"],
        "reliability2": hw["reliability"],
        "geolocation": hw["geolocation"],
        "verification": hw["verification"],
        "external": hw["external"],
        "hosting_type": hw["hosting_type"],
        "static_ip": hw["static_ip"],
        "os_version": hw["os_version"],
        "duration": max(0.0, machine.end_date - now),
        "end_date": machine.end_date,
        "start_date": machine.start_date,
        "score": round(hw["reliability"] * 100, 3),
        "rentable": True,
        "nw_disk_min_bw": None,
        "nw_disk_max_bw": None,
        "nw_disk_avg_bw": None,
    }
