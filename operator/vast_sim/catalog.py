"""Fixed catalogues the simulated market is generated from: GPU models, drivers, locations,
CPUs, motherboards and disks."""

from __future__ import annotations

from dataclasses import dataclass

from vast_sim.models import JSONDict


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

# Well-known public templates present in every fresh world.
SEED_TEMPLATES: tuple[JSONDict, ...] = (
    {
        "hash_id": "661d064bbda1f2a133816b6d55da07c3",
        "name": "PyTorch (Vast)",
        "image": "vastai/pytorch",
        "tag": "latest",
        "env": "-p 1111:1111 -p 8080:8080 -e OPEN_BUTTON_PORT=1111",
        "onstart": "entrypoint.sh",
        "runtype": "jupyter_direc ssh_direc ssh_proxy",
        "extra": {"recommended": True, "recommended_disk_space": 32, "creator_id": 62897},
    },
    {
        "hash_id": "b0a1e0d6a76f4fb0a4f9a2c3d1e2f3a4",
        "name": "NVIDIA CUDA",
        "image": "vastai/base-image",
        "tag": "cuda-12.4.1-auto",
        "env": "-p 1111:1111 -e OPEN_BUTTON_PORT=1111",
        "onstart": "entrypoint.sh",
        "runtype": "ssh ssh_direc ssh_proxy",
        "extra": {"recommended": True, "recommended_disk_space": 16, "creator_id": 62897},
    },
    {
        "hash_id": "3f19d5a7c2b84e6d9a0b1c2d3e4f5a6b",
        "name": "vLLM",
        "image": "vllm/vllm-openai",
        "tag": "latest",
        "env": "-p 8000:8000",
        "onstart": None,
        "runtype": "args",
        "extra": {"recommended": True, "recommended_disk_space": 64, "creator_id": 62897},
    },
)
