"""The soak's world: its own control plane, the simulator (state file, two accounts, request
log) and two operator replicas with kopf peering, each of which can be killed and restarted.

Everything runs on loopback as local processes, like the e2e suite (tests/e2e/harness.py), but
the soak owns its control plane: it restarts kube-apiserver and etcd, which a shared session
cluster must not see.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for extra in (ROOT / "tests" / "controlplane", ROOT / "tests" / "bench", ROOT / "tests" / "e2e"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from vastbench import KubeHttp  # noqa: E402

import envtest  # noqa: E402
from vast_sim.testing import RunningSim, start_sim_subprocess  # noqa: E402

OPERATOR_NS = "vast-operator-soak"
RELEASE = "soak"
PEERING = "soak"
CLUSTER_ID = "soak"
GROUP = "/apis/vast.ai/v1alpha1"
POLL_INTERVAL = 2.0
VAST_TIMEOUT = 3.0
OPERATOR_CAP = 3.0  # the operator-wide price cap ($/h), VAST_MAX_PRICE_PER_HOUR
# The loop's settle window (docs/design.md): 2 x --vast-timeout + poll interval + 5 s.
CREATE_SETTLE = 2 * VAST_TIMEOUT + POLL_INTERVAL + 5


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Replica:
    """One `vast-operator run` replica (cluster-wide, peering), SIGKILL-able and restartable."""

    def __init__(
        self, *, index: int, priority: int, kubeconfig: Path, sim_url: str, key: str, logs: Path
    ) -> None:
        self.index = index
        self.priority = priority
        self.kubeconfig = kubeconfig
        self.sim_url = sim_url
        self.key = key
        self.log_path = logs / f"operator-{index}.log"
        self.metrics_port, self.liveness_port = envtest.free_ports(2)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.held_down = False  # killed on purpose and left down (a standby take-over)
        self.exits: list[int] = []  # exit codes of exits nobody asked for
        self.kills: list[float] = []  # when the soak SIGKILLed it

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self.held_down = False
        if self.alive:
            return
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAST_", "KUBECONFIG"))}
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            VAST_URL=self.sim_url,
            VAST_API_KEY=self.key,
            VAST_MAX_PRICE_PER_HOUR=str(OPERATOR_CAP),
            PYTHONUNBUFFERED="1",
        )
        argv = [
            sys.executable,
            "-m",
            "vast_operator.cli",
            "run",
            "--liveness-port",
            str(self.liveness_port),
            "--metrics-port",
            str(self.metrics_port),
            "--poll-interval",
            f"{POLL_INTERVAL:g}",
            "--rate-limit-scale",
            "0",
            "--requests-per-second",
            "100",
            "--vast-timeout",
            f"{VAST_TIMEOUT:g}",
            "--backoff-base",
            "0.2",
            "--min-boot-timeout",
            "1",
            "--cluster-id",
            CLUSTER_ID,
            "--allow-adoption",
            "--peering",
            PEERING,
            "--priority",
            str(self.priority),
        ]
        if os.environ.get("SOAK_OPERATOR_VERBOSE"):  # kopf's own debug log, for analysis
            argv.append("--verbose")
        with self.log_path.open("ab") as handle:
            handle.write(f"\n===== start #{self.starts + 1} {time.time():.0f} =====\n".encode())
            handle.flush()
            self.proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env)
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last status write."""
        if self.proc is not None and self.proc.poll() is None:
            self.kills.append(time.time())
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def metrics(self) -> str:
        if not self.alive:
            return ""
        try:
            return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        except httpx.HTTPError:
            return ""


@dataclass
class SoakEnv:
    """What the driver works with; `start()` builds it, `stop()` tears it down."""

    work: Path
    seed: int
    replicas_wanted: int = 2
    keys: list[str] = field(default_factory=list)
    plane: envtest.ControlPlane | None = None
    cluster: envtest.Cluster | None = None
    kube: KubeHttp | None = None
    sim: RunningSim | None = None
    sim_port: int = 0
    replicas: list[Replica] = field(default_factory=list)
    request_log: Path = Path()
    state_file: Path = Path()
    restarts: dict[str, int] = field(default_factory=dict)

    # -- start and stop --------------------------------------------------------------------------
    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.keys = [f"soak-a-{secrets.token_hex(12)}", f"soak-b-{secrets.token_hex(12)}"]
        binaries = envtest.ensure_binaries()
        tools = envtest.ensure_client_tools()
        self.plane = envtest.ControlPlane(self.work / "state", binaries)
        self.plane.start()
        self.cluster = envtest.Cluster(
            self.plane.kubeconfig, tools, self.work / "cluster", self.plane
        )
        kubeconfig = self._prepare_cluster()
        self.kube = KubeHttp(self.plane.kubeconfig)
        self.request_log = self.work / "sim-requests.jsonl"
        self.state_file = self.work / "sim-state.json"
        self.sim_port = envtest.free_ports(1)[0]
        self._start_sim()
        assert self.sim is not None
        for i in range(self.replicas_wanted):
            self.replicas.append(
                Replica(
                    index=i,
                    priority=100 - 10 * i,
                    kubeconfig=kubeconfig,
                    sim_url=self.sim.url,
                    key=self.keys[0],
                    logs=self.work,
                )
            )
        for replica in self.replicas:
            # The first replica works; the next ones start as standbys once it is known.
            replica.start()
            time.sleep(5)

    def _prepare_cluster(self) -> Path:
        cluster = self.cluster
        assert cluster is not None
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "deploy" / "crds"))
        cluster.kubectl(
            "apply", "--server-side", "-f", str(ROOT / "tests" / "chart" / "kopf-peering-crds.yaml")
        )
        for crd in (
            "vastinstances.vast.ai",
            "vastvolumes.vast.ai",
            "vastendpoints.vast.ai",
            "clusterkopfpeerings.kopf.dev",
        ):
            cluster.wait_established(crd)
        cluster.apply_yaml(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}}
        )
        rendered = cluster.helm(
            "template",
            RELEASE,
            str(envtest.CHART),
            "--namespace",
            OPERATOR_NS,
            "--set",
            "crds.enabled=false",
            "--set",
            "peering.enabled=true",
            "--set",
            f"peering.name={PEERING}",
            "--api-versions",
            "kopf.dev/v1/ClusterKopfPeering",
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
            "--show-only",
            "templates/peering.yaml",
        ).stdout
        applied = cluster.kubectl(
            "apply", "-n", OPERATOR_NS, "-f", "-", "-o", "name", input=rendered
        )
        (account,) = [
            n.split("/", 1)[1] for n in applied.stdout.split() if n.startswith("serviceaccount/")
        ]
        return cluster.sa_kubeconfig(OPERATOR_NS, account, expiration_seconds=8 * 3600)

    def _start_sim(self) -> None:
        self.sim = start_sim_subprocess(
            port=self.sim_port,
            api_key=self.keys[0],
            extra_api_keys=self.keys[1:],
            boot_seconds=2.0,
            state_file=str(self.state_file),
            seed=self.seed,
            num_machines=150,
            relax=["rate_limits"],  # the operator runs unpaced; 429s come from the fault queue
            search_quota=10_000_000,
            unload_seconds=3.0,
            extra_args=["--request-log", str(self.request_log), "--credit", "1000000"],
        )

    def stop(self) -> None:
        for replica in self.replicas:
            with contextlib.suppress(Exception):
                replica.stop()
        if self.sim is not None:
            with contextlib.suppress(Exception):
                self.sim.stop()
        if self.kube is not None:
            self.kube.close()
        if self.plane is not None:
            self.plane.stop()

    # -- faults on processes ---------------------------------------------------------------------
    def _count(self, what: str) -> None:
        self.restarts[what] = self.restarts.get(what, 0) + 1

    def active_replica(self) -> Replica | None:
        """The live replica with the highest priority (kopf peering lets it work)."""
        live = [r for r in self.replicas if r.alive]
        return max(live, key=lambda r: r.priority) if live else None

    def ensure_replicas(self) -> None:
        for replica in self.replicas:
            if not replica.alive:
                replica.start()

    def restart_exited(self) -> list[str]:
        """What a kubelet does: a replica that exited on its own is started again (and the exit
        is reported)."""
        restarted = []
        for replica in self.replicas:
            if replica.proc is None or replica.alive or replica.held_down:
                continue
            code = replica.proc.returncode
            if code is not None and code != -signal.SIGKILL:
                replica.exits.append(code)
                restarted.append(f"operator-{replica.index} exited with {code}")
            replica.start()
        return restarted

    def restart_sim(self, down: float) -> None:
        """SIGTERM (the state file is written on the way out), then start on the same port."""
        assert self.sim is not None
        self.sim.stop()
        time.sleep(down)
        self._start_sim()
        self._count("vast-sim")

    def restart_component(self, name: str, down: float) -> None:
        """SIGKILL kube-apiserver or etcd and start it again with the same command line."""
        plane = self.plane
        assert plane is not None
        proc = next(p for p in plane._procs if p.name == name)
        argv = [
            a.decode() for a in Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0") if a
        ]
        proc.signal_group(signal.SIGKILL)
        if proc.popen is not None:
            proc.popen.wait(timeout=10)
        plane._procs.remove(proc)
        time.sleep(down)
        plane._spawn(name, argv)
        deadline = time.monotonic() + 90
        while not plane._api_ok("/readyz"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not come back")
            time.sleep(0.3)
        self._count(name)

    # -- reading ---------------------------------------------------------------------------------
    def sim_state(self) -> dict[str, Any]:
        assert self.sim is not None
        response = httpx.get(f"{self.sim.url}/_sim/state", timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def sim_counters(self) -> dict[str, Any]:
        assert self.sim is not None
        result: dict[str, Any] = self.sim.admin.counters()
        return result

    def list_kind(self, plural: str) -> list[dict[str, Any]]:
        assert self.kube is not None
        response = self.kube.http.get(f"{GROUP}/{plural}", timeout=10)
        response.raise_for_status()
        return list(response.json()["items"])

    def namespaces(self) -> set[str]:
        assert self.kube is not None
        response = self.kube.http.get("/api/v1/namespaces", timeout=10)
        response.raise_for_status()
        return {item["metadata"]["name"] for item in response.json()["items"]}

    def events(self) -> list[dict[str, Any]]:
        assert self.kube is not None
        response = self.kube.http.get("/api/v1/events", timeout=30)
        response.raise_for_status()
        return list(response.json()["items"])


def dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
