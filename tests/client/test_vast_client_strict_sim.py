"""The client against the simulator's opt-in redirects on the routes whose slashes the CLI
spells differently from Vast's documents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from vast_client_support import SIM_KEY, make_client


@pytest.fixture(scope="module")
def redirecting_sim() -> Iterator[Any]:
    from vast_sim.testing import run_sim_subprocess

    with run_sim_subprocess(
        api_key=SIM_KEY, boot_seconds=0, num_machines=20, seed=3, redirect_slashes=True
    ) as running:
        yield running


async def test_the_client_follows_the_simulators_slash_redirects(redirecting_sim: Any) -> None:
    async with make_client(redirecting_sim) as client:
        user = await client.current_user()  # GET /api/v0/users/current -> .../current/
        volumes = await client.list_volumes()  # GET /api/v0/volumes -> /api/v0/volumes/
    assert user is not None
    assert volumes == []
    routes = redirecting_sim.admin.counters()["routes"]
    assert routes.get("REDIRECT") == 2  # both calls were redirected, and both were followed
    assert routes.get("GET /api/v0/users/current/") == 1
    assert routes.get("GET /api/v0/volumes/") == 1
