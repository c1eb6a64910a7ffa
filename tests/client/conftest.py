"""Fixtures for the Vast client tests: one real `vast-sim` process per session, reset per test."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from vast_client_support import SIM_KEY, make_client

from vast_operator.vast import VastClient


@pytest.fixture(scope="session")
def sim() -> Iterator[Any]:
    from vast_sim.testing import run_sim_subprocess

    with run_sim_subprocess(api_key=SIM_KEY, boot_seconds=0, num_machines=80, seed=7) as running:
        yield running


@pytest.fixture
def fresh_sim(sim: Any) -> Any:
    """The session simulator with a fresh market, no faults and zeroed counters."""
    sim.admin.reset(seed=7, num_machines=80)
    sim.admin.config(boot_seconds=0, enforce_rate_limits=False, credit=1000.0)
    return sim


@pytest.fixture
async def vast(fresh_sim: Any) -> AsyncIterator[VastClient]:
    async with make_client(fresh_sim) as client:
        yield client


@pytest.fixture(autouse=True)
def key_never_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test runs with DEBUG logging captured; no record may carry the API key."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert SIM_KEY not in text, f"API key leaked in log record from {record.name}"
