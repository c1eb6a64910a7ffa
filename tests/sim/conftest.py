"""Fixtures for the simulator's own tests.

* ``world`` / ``clock``: a `World` with a hand-driven clock (lifecycle and query tests).
* ``app`` / ``api``: the app in-process behind an httpx ASGI transport (fast HTTP tests). Strict
  except for the rate limits: these tests call routes back to back, far faster than Vast's
  per-route intervals allow; the limits have their own tests (test_sim_strict.py).
* ``strict_app`` / ``strict_api``: the same with every strict feature on.
* ``served``: one in-thread uvicorn server per module, reset per test (faults that need a
  real socket: drop, timeout).
* ``sim_process``: one `vast-sim` subprocess per module (the CLI tests), via
  `vast_sim.testing.run_sim_subprocess`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sim_test_support import KEY, NUM_MACHINES, Clock, asgi_client
from starlette.applications import Starlette

from vast_sim.app import Sim, create_app
from vast_sim.config import SimConfig
from vast_sim.testing import RunningSim, run_sim_in_thread, run_sim_subprocess
from vast_sim.world import World


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(clock: Clock) -> World:
    return World(SimConfig(api_key=KEY, boot_seconds=10.0, num_machines=NUM_MACHINES), clock)


@pytest.fixture
def app() -> Starlette:
    config = SimConfig(api_key=KEY, boot_seconds=0.0, num_machines=NUM_MACHINES)
    config.relax.add("rate_limits")  # see the module docstring
    return create_app(config)


@pytest.fixture
def strict_app() -> Starlette:
    return create_app(SimConfig(api_key=KEY, boot_seconds=0.0, num_machines=NUM_MACHINES))


@pytest.fixture
def sim(app: Starlette) -> Sim:
    result: Sim = app.state.sim
    return result


@pytest.fixture
def strict_sim(strict_app: Starlette) -> Sim:
    result: Sim = strict_app.state.sim
    return result


@pytest.fixture
async def api(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


@pytest.fixture
async def strict_api(strict_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(strict_app) as client:
        yield client


@pytest.fixture(scope="module")
def served_module() -> Iterator[RunningSim]:
    with run_sim_in_thread(api_key=KEY, num_machines=NUM_MACHINES) as running:
        yield running


@pytest.fixture
def served(served_module: RunningSim) -> RunningSim:
    served_module.admin.reset()
    served_module.admin.config(boot_seconds=0, enforce_rate_limits=False)
    return served_module


@pytest.fixture(scope="module")
def sim_process() -> Iterator[RunningSim]:
    with run_sim_subprocess(api_key=KEY, boot_seconds=0, num_machines=NUM_MACHINES) as running:
        yield running
