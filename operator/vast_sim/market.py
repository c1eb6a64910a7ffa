"""Deterministic generation of the simulated market: machines and their offer ids.

`generate_machines(seed, n, now)` always yields the same machines for the same seed and count
(ids, GPUs, prices, locations), drawn from the catalogues in catalog.py. Offers are not stored:
offer_rows.py derives them from a machine and its GPU-count slots.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from vast_sim.catalog import CATALOG, CPUS, DISKS, DRIVERS, LOCATIONS, MOBOS, GpuModel
from vast_sim.models import JSONDict, Machine

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
