"""Helpers for test suites that need a running Vast simulator.

Two ways to get one, both yielding a `RunningSim`:

    from vast_sim.testing import run_sim_subprocess, run_sim_in_thread

    with run_sim_subprocess(boot_seconds=0) as sim:      # real `vast-sim` process
        httpx.get(f"{sim.api_url}/users/current", headers=sim.headers)
        sim.admin.fault("429_detail", route="PUT /api/v0/asks/{id}/", count=2)
        assert sim.admin.counters()["routes"]["GET /api/v0/users/current/"] == 1

    with run_sim_in_thread(boot_seconds=0) as sim:       # same server, in this process
        sim.world.instances                               # direct access to the world

`run_sim_subprocess` starts `python -m vast_sim` (the `vast-sim` entry point) on a free port
(`--port 0`, the server reports the port it bound, so there is no port race), waits until it
accepts connections and stops it with SIGTERM on exit. `start_sim_subprocess` does the same
without a context manager, for tests that kill and restart the simulator themselves.

`RunningSim.admin` (a `SimAdmin`, from admin_client.py and re-exported here) wraps the /_sim/
admin API with a small synchronous httpx client, usable from sync and async tests alike.

The simulator is strict by default (rate limits, Bearer-only auth, documented empty-list answers,
unloading, unknown search fields refused, daily search quota). Relax it for fast tests that
do not exercise those: `strict=False` (everything), `relax=("rate_limits", "unloading")` (some),
or the same keys later through `sim.admin.config(...)`. Say why in the fixture.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from vast_sim.admin_client import SimAdmin
from vast_sim.cli import READY_PREFIX
from vast_sim.config import SimConfig, check_features

__all__ = [
    "DEFAULT_TEST_API_KEY",
    "RunningSim",
    "SimAdmin",
    "run_sim_in_thread",
    "run_sim_subprocess",
    "start_sim_subprocess",
]

DEFAULT_TEST_API_KEY = "test-vast-key"


@dataclass
class RunningSim:
    """A simulator that is up: where it is, its key, and its admin API."""

    url: str
    api_key: str
    admin: SimAdmin
    extra_api_keys: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    state_file: str | None = None
    log_path: str | None = None
    app: Any = None  # the Starlette app when running in-thread
    _server: Any = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def api_url(self) -> str:
        """Base of the v0 API, e.g. http://127.0.0.1:PORT/api/v0"""
        return f"{self.url}/api/v0"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def world(self) -> Any:
        """The in-process `World` (only for run_sim_in_thread)."""
        if self.app is None:
            raise RuntimeError("the world is only reachable for in-thread simulators")
        return self.app.state.sim.world

    def headers_for(self, api_key: str) -> dict[str, str]:
        """The Bearer header of another account's key."""
        return {"Authorization": f"Bearer {api_key}"}

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx.Client with base_url=url and the Bearer header (`api_key=` another key)."""
        key = kwargs.pop("api_key", self.api_key)
        headers = {**self.headers_for(key), **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.url, headers=headers, **kwargs)

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        key = kwargs.pop("api_key", self.api_key)
        headers = {**self.headers_for(key), **kwargs.pop("headers", {})}
        return httpx.AsyncClient(base_url=self.url, headers=headers, **kwargs)

    def logs(self) -> str:
        if self.log_path and os.path.exists(self.log_path):
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Stop the simulator (subprocess: send `sig`, wait, kill if needed). Returns the exit
        code of a subprocess."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(sig)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout)
            if self.process.stdout is not None:
                self.process.stdout.close()
            return self.process.returncode
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout)
        return None


def strictness_args(
    strict: bool,
    relax: Sequence[str],
    enforce_rate_limits: bool | None,
    unload_seconds: float | None,
    search_quota: int | None,
    redirect_slashes: bool,
) -> list[str]:
    """The vast-sim flags for these strictness settings."""
    args: list[str] = [] if strict else ["--relaxed"]
    for feature in relax:
        args += ["--relax", feature]
    if enforce_rate_limits is True:
        args.append("--enforce-rate-limits")
    elif enforce_rate_limits is False and "rate_limits" not in relax:
        args += ["--relax", "rate_limits"]
    if unload_seconds is not None:
        args += ["--unload-seconds", str(unload_seconds)]
    if search_quota is not None:
        args += ["--search-quota", str(search_quota)]
    if redirect_slashes:
        args.append("--redirect-slashes")
    return args


def _read_ready_line(proc: subprocess.Popen[bytes], deadline: float) -> str | None:
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    buffer = b""
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return None
            if not selector.select(timeout=0.1):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                return None
            buffer += chunk
            for line in buffer.decode(errors="replace").splitlines():
                if line.startswith(READY_PREFIX):
                    return line[len(READY_PREFIX) :].strip()
    finally:
        selector.close()
    return None


def start_sim_subprocess(
    port: int | None = None,
    api_key: str = DEFAULT_TEST_API_KEY,
    boot_seconds: float = 0.0,
    state_file: str | None = None,
    seed: int = 0,
    num_machines: int | None = None,
    enforce_rate_limits: bool | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 30.0,
    *,
    strict: bool = True,
    relax: Iterable[str] = (),
    unload_seconds: float | None = None,
    search_quota: int | None = None,
    redirect_slashes: bool = False,
    retry_after: bool = False,
    extra_api_keys: Sequence[str] = (),
) -> RunningSim:
    """Start `vast-sim` in a subprocess and wait until it serves; call `.stop()` when done.

    The simulator is strict unless told otherwise: `strict=False` relaxes everything,
    `relax=("rate_limits", "unloading", ...)` single features (vast_sim.config.FEATURES), and
    `enforce_rate_limits` True/False switches the rate limits explicitly (None: follow strict).
    """
    relax = list(relax)
    check_features(relax)
    args = [
        sys.executable,
        "-m",
        "vast_sim",
        "--host",
        "127.0.0.1",
        "--port",
        str(port or 0),
        "--api-key",
        api_key,
        "--boot-seconds",
        str(boot_seconds),
        "--seed",
        str(seed),
    ]
    if state_file:
        args += ["--state-file", str(state_file)]
    if num_machines is not None:
        args += ["--num-machines", str(num_machines)]
    for extra_key in extra_api_keys:
        args += ["--api-key", extra_key]
    args += strictness_args(
        strict, relax, enforce_rate_limits, unload_seconds, search_quota, redirect_slashes
    )
    if retry_after:
        args.append("--retry-after")
    args += list(extra_args)
    log_fd, log_path = tempfile.mkstemp(prefix="vast-sim-", suffix=".log")
    proc_env = dict(os.environ if env is None else env)
    proc_env.setdefault("PYTHONUNBUFFERED", "1")
    with os.fdopen(log_fd, "wb") as log_file:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log_file, env=proc_env)
    url = _read_ready_line(proc, time.monotonic() + startup_timeout)
    sim = RunningSim(
        url=url or "",
        api_key=api_key,
        admin=SimAdmin(url or "http://127.0.0.1:0"),
        extra_api_keys=list(extra_api_keys),
        process=proc,
        state_file=state_file,
        log_path=log_path,
    )
    if url is None:
        sim.stop(signal.SIGKILL, 5)
        raise RuntimeError(f"vast-sim did not start: {' '.join(args)}\n{sim.logs()}")
    return sim


@contextlib.contextmanager
def run_sim_subprocess(
    port: int | None = None,
    api_key: str = DEFAULT_TEST_API_KEY,
    boot_seconds: float = 0.0,
    state_file: str | None = None,
    seed: int = 0,
    num_machines: int | None = None,
    enforce_rate_limits: bool | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 30.0,
    *,
    strict: bool = True,
    relax: Iterable[str] = (),
    unload_seconds: float | None = None,
    search_quota: int | None = None,
    redirect_slashes: bool = False,
    retry_after: bool = False,
    extra_api_keys: Sequence[str] = (),
) -> Iterator[RunningSim]:
    """`vast-sim` as a subprocess for the duration of the block (SIGTERM on exit)."""
    sim = start_sim_subprocess(
        port=port,
        api_key=api_key,
        boot_seconds=boot_seconds,
        state_file=state_file,
        seed=seed,
        num_machines=num_machines,
        enforce_rate_limits=enforce_rate_limits,
        extra_args=extra_args,
        env=env,
        startup_timeout=startup_timeout,
        strict=strict,
        relax=relax,
        unload_seconds=unload_seconds,
        search_quota=search_quota,
        redirect_slashes=redirect_slashes,
        retry_after=retry_after,
        extra_api_keys=extra_api_keys,
    )
    try:
        yield sim
    finally:
        sim.stop()
        if sim.log_path:
            with contextlib.suppress(OSError):
                os.unlink(sim.log_path)


@contextlib.contextmanager
def run_sim_in_thread(config: SimConfig | None = None, **overrides: Any) -> Iterator[RunningSim]:
    """The simulator served by uvicorn in a background thread of this process.

    `overrides` set SimConfig fields (api_key, boot_seconds, seed, num_machines, strict, relax,
    ...). The default api_key is DEFAULT_TEST_API_KEY and the default boot_seconds is 0.
    """
    import uvicorn

    from vast_sim.app import create_app

    cfg = config or SimConfig(api_key=DEFAULT_TEST_API_KEY, boot_seconds=0.0)
    for key, value in overrides.items():
        if key == "enforce_rate_limits":
            if value is not None:
                cfg.set_feature("rate_limits", bool(value))
            continue
        setattr(cfg, key, value)
    check_features([*cfg.relax, *cfg.features])
    app = create_app(cfg)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, name="vast-sim", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("in-thread vast-sim did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    sim = RunningSim(
        url=url,
        api_key=cfg.api_key,
        admin=SimAdmin(url),
        extra_api_keys=[a.api_key for a in cfg.accounts],
        state_file=cfg.state_file,
        app=app,
        _server=server,
        _thread=thread,
    )
    try:
        yield sim
    finally:
        sim.stop()
