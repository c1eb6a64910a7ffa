"""Deterministic generation of the simulated market: machines, GPU offers and volume offers.

`generate_machines(seed, n, now)` always yields the same machines for the same seed and count
(ids, GPUs, prices, locations). Offers are not stored: `offer_static` derives the static part of
an offer from its machine and GPU-count slot, and `priced_offer` adds what depends on the search
(type, allocated storage, current time).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from vast_sim.models import JSONDict, Machine

HOURS_PER_MONTH = 30 * 24


@dataclass(frozen=True)
class GpuModel:
    name: str
    gpu_ram: int  # MB
    compute_cap: int
    tflops: float  # fp32 per GPU
    dlperf: float  # per GPU
    mem_bw: float  # GB/s
    max_power: int  # W
    price: tuple[float, float]  # on-demand $/GPU/h range
    datacenter: bool
    weight: int
    min_driver: int = 0  # index into DRIVERS
    nvlink: float = 0.0


CATALOG: tuple[GpuModel, ...] = (
    GpuModel("RTX 3060", 12288, 860, 12.7, 8.4, 360, 170, (0.04, 0.09), False, 4),
    GpuModel("RTX 3080", 10240, 860, 29.8, 15.9, 760, 320, (0.07, 0.14), False, 4),
    GpuModel("RTX 3090", 24576, 860, 35.6, 21.8, 936, 350, (0.13, 0.26), False, 15),
    GpuModel("RTX 4070", 12282, 890, 29.1, 16.8, 504, 200, (0.07, 0.13), False, 3),
    GpuModel("RTX 4080", 16376, 890, 48.7, 28.1, 717, 320, (0.14, 0.25), False, 4),
    GpuModel("RTX 4090", 24564, 890, 82.6, 47.6, 1008, 450, (0.28, 0.55), False, 20),
    GpuModel("RTX 5090", 32607, 1200, 104.8, 61.9, 1792, 575, (0.50, 0.95), False, 8, 3),
    GpuModel("RTX A4000", 16376, 860, 19.2, 12.1, 448, 140, (0.08, 0.14), False, 3),
    GpuModel("RTX A5000", 24564, 860, 27.8, 17.3, 768, 230, (0.15, 0.26), False, 4),
    GpuModel("RTX A6000", 49140, 860, 38.7, 25.2, 768, 300, (0.35, 0.60), False, 6),
    GpuModel("RTX 6000Ada", 49140, 890, 91.1, 55.4, 960, 300, (0.65, 1.00), False, 3),
    GpuModel("L4", 23034, 890, 30.3, 17.9, 300, 72, (0.20, 0.35), True, 2),
    GpuModel("L40S", 46068, 890, 91.6, 56.1, 864, 350, (0.55, 0.90), True, 4),
    GpuModel("Tesla V100", 16384, 700, 15.7, 14.2, 900, 300, (0.15, 0.30), True, 2, 0, 150.0),
    GpuModel("A100 PCIE", 40960, 800, 19.5, 40.3, 1555, 250, (0.60, 1.00), True, 4),
    GpuModel("A100 SXM4", 81920, 800, 19.5, 45.6, 2039, 400, (0.85, 1.40), True, 5, 0, 600.0),
    GpuModel("H100 PCIE", 81559, 900, 51.2, 80.4, 2000, 350, (1.50, 2.20), True, 3, 1),
    GpuModel("H100 SXM", 81559, 900, 66.9, 101.3, 3350, 700, (1.70, 2.70), True, 6, 1, 900.0),
    GpuModel("H200", 143771, 900, 66.9, 110.2, 4800, 700, (2.30, 3.50), True, 2, 2, 900.0),
)

CATALOG_BY_NAME = {g.name: g for g in CATALOG}

# (driver version, max CUDA version it supports)
DRIVERS: tuple[tuple[str, float], ...] = (
    ("535.183.01", 12.2),
    ("550.127.05", 12.4),
    ("560.35.03", 12.6),
    ("570.124.06", 12.8),
    ("575.57.08", 12.9),
    ("580.65.06", 13.0),
)

LOCATIONS: tuple[tuple[str, int], ...] = (
    ("Washington, US", 8),
    ("California, US", 8),
    ("Texas, US", 6),
    ("Virginia, US", 5),
    ("Oregon, US", 4),
    ("New York, US", 3),
    ("Quebec, CA", 4),
    ("Ontario, CA", 3),
    ("Bavaria, DE", 3),
    ("Hesse, DE", 3),
    ("Noord-Holland, NL", 3),
    ("England, GB", 3),
    ("Ile-de-France, FR", 2),
    ("Stockholm County, SE", 2),
    ("Uusimaa, FI", 2),
    ("Oslo, NO", 1),
    ("Mazovia, PL", 2),
    ("Tokyo, JP", 2),
    ("Taipei, TW", 3),
    ("Seoul, KR", 2),
    ("New South Wales, AU", 2),
    ("Sao Paulo, BR", 2),
    ("Maharashtra, IN", 1),
    ("Guangdong, CN", 2),
    ("Hanoi, VN", 1),
)

CPUS: tuple[tuple[str, int, float], ...] = (
    ("AMD Ryzen 9 5950X 16-Core Processor", 32, 3.4),
    ("AMD Ryzen 9 7950X 16-Core Processor", 32, 4.5),
    ("Intel Core i9-13900K", 32, 3.0),
    ("AMD Ryzen Threadripper PRO 5975WX 32-Cores", 64, 3.6),
    ("AMD EPYC 7543 32-Core Processor", 128, 2.8),
    ("AMD EPYC 7763 64-Core Processor", 256, 2.45),
    ("AMD EPYC 9554 64-Core Processor", 256, 3.1),
    ("Intel Xeon Platinum 8480+", 224, 2.0),
    ("Intel Xeon Gold 6338 CPU @ 2.00GHz", 128, 2.0),
)

MOBOS = ("ROG STRIX X570-E", "WRX80E-SAGE SE", "H12SSL-i", "MZ92-FS0", "X13DEG-OA", "PRIME Z790-P")
DISKS = (
    "Samsung SSD 990 PRO 2TB",
    "WD_BLACK SN850X 4000GB",
    "SAMSUNG MZQL23T8HCLS",
    "INTEL SSDPF2KX076TZ",
)

OFFER_SLOTS = (1, 2, 4, 8, 16)


def _weighted(rng: random.Random, items: list[tuple[Any, int]]) -> Any:
    total = sum(w for _, w in items)
    pick = rng.uniform(0, total)
    acc = 0.0
    for item, w in items:
        acc += w
        if pick <= acc:
            return item
    return items[-1][0]


def slot_sizes(total_gpus: int) -> list[int]:
    """GPU counts a machine is offered in: powers of two up to its size, plus its size."""
    sizes = [s for s in OFFER_SLOTS if s <= total_gpus]
    if total_gpus not in sizes:
        sizes.append(total_gpus)
    return sizes


@dataclass
class IdSource:
    """Deterministic id counters (offers and contracts)."""

    next_offer_id: int
    next_contract_id: int

    def offer_id(self, rng: random.Random | None = None) -> int:
        value = self.next_offer_id
        self.next_offer_id += 1 + (rng.randint(0, 7) if rng else 3)
        return value

    def contract_id(self) -> int:
        value = self.next_contract_id
        self.next_contract_id += 1
        return value


def initial_ids(seed: int) -> IdSource:
    rng = random.Random(f"ids-{seed}")
    return IdSource(
        next_offer_id=21_000_000 + rng.randint(0, 900_000),
        next_contract_id=27_000_000 + rng.randint(0, 900_000),
    )


def generate_machines(seed: int, count: int, now: float, ids: IdSource) -> list[Machine]:
    """The market for a seed: `count` machines with their offer slots and volume offers."""
    rng = random.Random(f"market-{seed}")
    gpu_weights = [(g, g.weight) for g in CATALOG]
    machines: list[Machine] = []
    machine_id = 9000 + rng.randint(0, 3000)
    host_id = 40000 + rng.randint(0, 20000)
    host_left = 0
    host_location = LOCATIONS[0][0]
    for _ in range(count):
        machine_id += rng.randint(1, 97)
        if host_left <= 0:
            host_id += rng.randint(3, 400)
            host_left = _weighted(rng, [(1, 5), (2, 3), (3, 2), (5, 1)])
            host_location = _weighted(rng, list(LOCATIONS))
        host_left -= 1
        gpu: GpuModel = _weighted(rng, gpu_weights)
        if gpu.datacenter:
            total = _weighted(rng, [(1, 10), (2, 10), (4, 20), (8, 60)])
        else:
            total = _weighted(rng, [(1, 30), (2, 25), (4, 25), (8, 20)])
        driver_idx = rng.randint(max(gpu.min_driver, 0), len(DRIVERS) - 1)
        driver, cuda = DRIVERS[driver_idx]
        major, minor, patch = (int(p) for p in driver.split("."))
        cpu_name, cpu_cores, cpu_ghz = rng.choice(CPUS[4:] if gpu.datacenter else CPUS)
        cpu_cores = max(cpu_cores, total * 8)
        cpu_ram = int(max(32, total * rng.choice((32, 64, 128))) * 1024 * 0.98)
        lo, hi = gpu.price
        dph_per_gpu = round(rng.uniform(lo, hi), 4)
        min_bid_per_gpu = round(dph_per_gpu * rng.uniform(0.35, 0.7), 4)
        verification = _weighted(rng, [("verified", 85), ("unverified", 12), ("deverified", 3)])
        reliability = round(min(0.999, 0.9 + (rng.betavariate(5, 1.2) * 0.099)), 4)
        direct_ports = 0 if rng.random() < 0.12 else rng.choice((20, 50, 100, 200, 500))
        disk_total = float(rng.choice((250, 500, 1000, 2000, 4000)) * (2 if total >= 4 else 1))
        vol_total = round(disk_total * rng.uniform(0.2, 0.5))
        ip = f"198.{18 + rng.randint(0, 1)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        inet_down = float(rng.choice((250, 500, 900, 1000, 2500, 5000, 9000)))
        hw: JSONDict = {
            "gpu_name": gpu.name,
            "gpu_arch": "nvidia",
            "gpu_ram": gpu.gpu_ram,
            "compute_cap": gpu.compute_cap,
            "cuda_max_good": cuda,
            "driver_version": driver,
            "driver_vers": major * 1_000_000 + minor * 1000 + patch,
            "gpu_mem_bw": gpu.mem_bw,
            "gpu_max_power": gpu.max_power,
            "gpu_max_temp": float(rng.choice((83, 87, 90, 92))),
            "gpu_lanes": 16,
            "gpu_display_active": (not gpu.datacenter) and rng.random() < 0.05,
            "bw_nvlink": gpu.nvlink,
            "tflops_per_gpu": gpu.tflops,
            "dlperf_per_gpu": gpu.dlperf,
            "pci_gen": float(
                rng.choice((3, 4, 4, 5)) if not gpu.datacenter else rng.choice((4, 5))
            ),
            "pcie_bw": round(rng.uniform(10.0, 52.0), 1),
            "cpu_name": cpu_name,
            "cpu_cores": cpu_cores,
            "cpu_ghz": cpu_ghz,
            "cpu_ram": cpu_ram,
            "cpu_arch": "amd64",
            "has_avx": 1,
            "mobo_name": rng.choice(MOBOS),
            "disk_bw": round(rng.uniform(800, 6500), 1),
            "disk_name": rng.choice(DISKS),
            "inet_up": round(inet_down * rng.uniform(0.5, 1.0), 1),
            "inet_down": inet_down,
            "inet_up_cost": round(rng.choice((0.0, 0.001, 0.002, 0.005, 0.01)), 4),
            "inet_down_cost": round(rng.choice((0.0, 0.0, 0.001, 0.002, 0.005)), 4),
            "direct_port_count": direct_ports,
            "public_ipaddr": ip,
            "static_ip": rng.random() < 0.7,
            "geolocation": host_location,
            "geolocode": rng.randint(1_000_000, 9_999_999),
            "hostname": None,
            "reliability": reliability,
            "verification": verification,
            "external": False,
            "hosting_type": 1 if gpu.datacenter and rng.random() < 0.8 else 0,
            "vms_enabled": rng.random() < 0.2,
            "os_version": rng.choice(("22.04", "22.04", "24.04", "20.04")),
            "credit_discount_max": round(rng.choice((0.2, 0.3, 0.4)), 2),
            "cluster_id": None,
        }
        machines.append(
            Machine(
                machine_id=machine_id,
                host_id=host_id,
                gpu_name=gpu.name,
                total_gpus=total,
                free_gpus=total,
                hw=hw,
                dph_per_gpu=dph_per_gpu,
                min_bid_per_gpu=min_bid_per_gpu,
                storage_cost=round(rng.uniform(0.05, 0.3), 4),
                disk_space=disk_total,
                vol_space_total=vol_total,
                vol_space_free=vol_total,
                vol_offer_id=0,
                port_range_start=rng.choice((10000, 20000, 30000, 40000, 50000)),
                start_date=now - rng.uniform(5, 400) * 86400,
                end_date=now + rng.uniform(7, 180) * 86400,
            )
        )
    # Offer ids: one per slot, then the volume offer, machine after machine.
    for machine in machines:
        for size in slot_sizes(machine.total_gpus):
            machine.slots[str(size)] = ids.offer_id(rng)
        machine.vol_offer_id = ids.offer_id(rng)
    return machines


def offer_static(machine: Machine, size: int, offer_id: int) -> JSONDict:
    """The search-independent fields of the offer for `size` GPUs of `machine`."""
    hw = machine.hw
    frac = size / machine.total_gpus
    dph_base = round(machine.dph_per_gpu * size, 6)
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
        "min_bid": round(machine.min_bid_per_gpu * size, 6),
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
