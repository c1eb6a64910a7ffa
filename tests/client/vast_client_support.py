"""Shared helpers of the Vast client tests (a module name unique in the whole suite)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from vast_operator.vast import RateLimiter, VastClient

SIM_KEY = f"sim-key-{secrets.token_hex(16)}"


def make_client(sim: Any, **overrides: Any) -> VastClient:
    api_key = overrides.pop("api_key", sim.api_key)
    options: dict[str, Any] = {
        "limiter": RateLimiter(scale=0, requests_per_second=None),
        "timeout": httpx.Timeout(5.0, connect=2.0),
        "max_retries": 3,
        "backoff_base": 0.001,
        "backoff_max": 0.01,
    }
    options.update(overrides)
    return VastClient(sim.url, api_key, **options)
