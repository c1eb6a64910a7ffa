"""Run-time settings of the simulator (command-line flags, changeable via `POST /_sim/config`).

The simulator is strict by default: every behaviour below in `FEATURES` is on unless the whole
simulator is relaxed (`strict=False`, `--relaxed`) or the one feature is switched off
(`relax={"rate_limits"}`, `--relax rate_limits`). An explicit `features` entry wins over both,
so `--relaxed --enforce-rate-limits` is "lenient except for the rate limits".
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_API_KEY = "vast-sim-key"
DEFAULT_NUM_MACHINES = 400
DEFAULT_CREDIT = 10_000.0
# Guesses (docs/simulator.md "Where the simulator guesses"): Vast documents neither.
DEFAULT_UNLOAD_SECONDS = 10.0
DEFAULT_SEARCH_QUOTA = 1000

# The strict behaviours, each of which can be relaxed on its own.
FEATURES: dict[str, str] = {
    "rate_limits": "per-route minimum intervals and 10 offer searches per minute per IP (429)",
    "bearer_only": "only `Authorization: Bearer KEY` (or ?api_key=) authenticates",
    "empty_lists": "the documented 400 for an account without endpoints / workergroups",
    "unloading": "destroyed instances stay listed as cur_state=unloaded for unload_seconds",
    "unknown_search_fields": "offer / volume searches with unknown fields answer 400",
    "search_quota": "search_quota offer searches per key per UTC day, then 429",
}


@dataclass
class AccountSpec:
    """One more account besides the primary one (`--api-key` repeated, `--accounts-file`)."""

    api_key: str
    credit: float | None = None  # None: SimConfig.credit
    username: str | None = None


@dataclass
class SimConfig:
    api_key: str = DEFAULT_API_KEY
    # The /_sim/ admin routes answer only loopback clients, or anyone with this token in the
    # X-Sim-Admin-Token header when it is set.
    admin_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    boot_seconds: float = 10.0
    seed: int = 0
    state_file: str | None = None
    num_machines: int = DEFAULT_NUM_MACHINES
    credit: float = DEFAULT_CREDIT
    # Accounts besides the primary one (whose key is `api_key`).
    accounts: list[AccountSpec] = field(default_factory=list)
    # Strictness: see the module docstring and FEATURES.
    strict: bool = True
    relax: set[str] = field(default_factory=set)
    features: dict[str, bool] = field(default_factory=dict)
    # Kept for callers of the first versions: True/False is features["rate_limits"].
    enforce_rate_limits: bool | None = None
    unload_seconds: float = DEFAULT_UNLOAD_SECONDS
    search_quota: int = DEFAULT_SEARCH_QUOTA
    # Opt-in behaviours (off even when strict: Vast's behaviour is unconfirmed).
    redirect_slashes: bool = False
    retry_after: bool = False
    # Per-route minimum intervals (seconds) that override the built-in Vast thresholds,
    # keyed like the counters: "PUT /api/v0/asks/{id}/".
    rate_limits: dict[str, float] = field(default_factory=dict)
    # How long a "timeout" fault holds the request before dropping it (default beyond the
    # vastai CLI's 120 s client timeout).
    timeout_seconds: float = 150.0
    # Debounce for writing --state-file after mutations.
    persist_interval: float = 0.5
    # Opt-in: append every Vast request (headers and body included) to this file as JSON lines
    # (request_log.py). It holds API keys; tests use it to check where keys travel.
    request_log: str | None = None

    def __post_init__(self) -> None:
        check_features([*self.relax, *self.features])
        if self.enforce_rate_limits is not None:
            self.features["rate_limits"] = bool(self.enforce_rate_limits)
            self.enforce_rate_limits = None

    def enforces(self, feature: str) -> bool:
        """Whether the strict behaviour `feature` is on."""
        if feature in self.features:
            return self.features[feature]
        return self.strict and feature not in self.relax

    def feature_states(self) -> dict[str, bool]:
        return {name: self.enforces(name) for name in FEATURES}

    def set_feature(self, feature: str, enabled: bool) -> None:
        check_features([feature])
        self.features[feature] = enabled


def check_features(names: list[str]) -> None:
    unknown = sorted(set(names) - set(FEATURES))
    if unknown:
        raise ValueError(f"unknown strict features {unknown}; known: {sorted(FEATURES)}")
