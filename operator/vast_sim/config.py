"""Run-time settings of the simulator (command-line flags, changeable via `POST /_sim/config`)."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_API_KEY = "vast-sim-key"
DEFAULT_NUM_MACHINES = 400
DEFAULT_CREDIT = 10_000.0


@dataclass
class SimConfig:
    api_key: str = DEFAULT_API_KEY
    host: str = "127.0.0.1"
    port: int = 8765
    boot_seconds: float = 10.0
    seed: int = 0
    state_file: str | None = None
    enforce_rate_limits: bool = False
    num_machines: int = DEFAULT_NUM_MACHINES
    credit: float = DEFAULT_CREDIT
    # Per-route minimum intervals (seconds) that override the built-in Vast thresholds,
    # keyed like the counters: "PUT /api/v0/asks/{id}/".
    rate_limits: dict[str, float] = field(default_factory=dict)
    # How long a "timeout" fault holds the request before dropping it (default beyond the
    # vastai CLI's 120 s client timeout).
    timeout_seconds: float = 150.0
    # Debounce for writing --state-file after mutations.
    persist_interval: float = 0.5
