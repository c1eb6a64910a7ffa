"""Shared helpers of the simulator tests (a module name unique in the whole suite)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

KEY = "sim-test-key"
NUM_MACHINES = 60
VASTAI = str(Path(sys.executable).with_name("vastai"))


class Clock:
    """A settable clock for a World: `clock.advance(5)`."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def cli_env(home: Path, url: str) -> dict[str, str]:
    """Environment for the vastai CLI: no update check, config/cache under `home`, and
    VAST_URL at the simulator (the CLI fetches GPU names from VAST_URL, not --url)."""
    env = dict(os.environ)
    for name in ("VAST_API_KEY", "CI"):
        env.pop(name, None)
    env.update(
        VASTAI_NO_UPDATE_CHECK="1",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_DATA_HOME=str(home / "data"),
        VAST_URL=url,
        COLUMNS="250",
        NO_COLOR="1",
    )
    return env


def run_vastai(
    url: str, api_key: str, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VASTAI, "--url", url, "--api-key", api_key, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def asgi_client(app: Any, key: str = KEY) -> httpx.AsyncClient:
    """An authenticated client of an in-process app (base http://vast.test)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://vast.test",
        headers={"Authorization": f"Bearer {key}"},
    )
