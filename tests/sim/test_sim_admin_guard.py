"""The /_sim/ admin routes steer the simulator: only loopback clients, or a token, may use them."""

from __future__ import annotations

import httpx

from vast_sim.app import create_app
from vast_sim.config import SimConfig


def client(app: object, host: str, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(host, 40000)),  # type: ignore[arg-type]
        base_url="http://vast.test",
        headers=headers,
    )


async def test_another_host_cannot_steer_the_simulator() -> None:
    app = create_app(SimConfig(boot_seconds=0))
    async with client(app, "10.1.2.3") as remote:
        assert (await remote.post("/_sim/reset", json={})).status_code == 403
        assert (await remote.get("/_sim/state")).status_code == 403
        assert (await remote.get("/_sim/health")).status_code == 200  # a probe stays open
    async with client(app, "127.0.0.1") as local:
        assert (await local.get("/_sim/state")).status_code == 200


async def test_with_a_token_only_its_bearer_may_steer_it() -> None:
    app = create_app(SimConfig(boot_seconds=0, admin_token="s3cret"))
    async with client(app, "127.0.0.1") as local:
        assert (await local.get("/_sim/state")).status_code == 403
    good = {"X-Sim-Admin-Token": "s3cret"}
    async with client(app, "10.1.2.3", good) as remote:
        assert (await remote.get("/_sim/state")).status_code == 200
