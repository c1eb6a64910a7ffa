"""Helpers of the kind suite: the simulator's admin view, objects, pods, waiting."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import cluster as kc
import httpx

import harness

LABEL_PREFIX = "k8s-vast-operator:"


def wait_for(
    what: str, check: Callable[[], Any], timeout: float = 180, interval: float = 1.0
) -> Any:
    """The e2e harness's poll, with the slower pace a kubelet-backed cluster needs."""
    return harness.wait_for(what, check, timeout=timeout, interval=interval)


class Sim:
    """The in-cluster simulator. Its admin routes answer loopback only: `kubectl port-forward`
    delivers to the Pod's loopback, so no admin token is needed. The forward is restarted
    when it breaks (e.g. the simulator's Pod was replaced)."""

    def __init__(self, kind: kc.KindCluster, target: str, namespace: str) -> None:
        self.kind, self.target, self.namespace = kind, target, namespace
        self._proc: subprocess.Popen[str] | None = None
        self._url = ""

    def _forward(self) -> str:
        self.close()
        argv = [str(self.kind.client.kubectl), "--kubeconfig", str(self.kind.kubeconfig),
                "port-forward", "-n", self.namespace, self.target, ":8000"]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not match:
            proc.kill()
            raise AssertionError(f"kubectl port-forward {self.target}: {line}{proc.stdout.read()}")
        # keep draining its output so it never blocks on a full pipe
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        self._proc, self._url = proc, f"http://127.0.0.1:{match.group(1)}"
        return self._url

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        for attempt in range(3):
            url = self._url if self._proc and self._proc.poll() is None else self._forward()
            try:
                response = httpx.request(method, f"{url}/_sim/{path}", json=body, timeout=15)
                response.raise_for_status()
                return response.json()
            except httpx.TransportError:
                if attempt == 2:
                    raise
                self.close()
                time.sleep(1)
        raise AssertionError("unreachable")

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", "state")
        return result

    def contracts_made(self) -> int:
        """The simulator's next contract id: every rent (instance or volume) takes one."""
        return int(self.state()["ids"]["next_contract_id"])

    def instances_for(self, uid: str) -> list[dict[str, Any]]:
        return [i for i in self.state()["instances"]
                if str(i.get("label") or "").startswith(LABEL_PREFIX + uid)]  # fmt: skip


class RentWatch:
    """Samples the simulator while a test runs: every instance id seen per object label.
    An object rented twice shows up as two ids under one label (even if one is destroyed
    between samples, the contract counter tells: see `rents`)."""

    def __init__(self, sim: Sim, interval: float = 0.5) -> None:
        self.sim, self.interval = sim, interval
        self.ids_by_label: dict[str, set[int]] = {}
        self.start_contract = sim.contracts_made()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for inst in self.sim.state()["instances"]:
                    label = str(inst.get("label") or "")
                    if label.startswith(LABEL_PREFIX):
                        self.ids_by_label.setdefault(label, set()).add(int(inst["id"]))
            except (httpx.HTTPError, AssertionError, KeyError):
                pass
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def rents(self) -> int:
        """Contracts made since the watch started (each rent takes exactly one)."""
        return self.sim.contracts_made() - self.start_contract

    def twice(self) -> dict[str, set[int]]:
        return {label: ids for label, ids in self.ids_by_label.items() if len(ids) > 1}


def instance(name: str, **spec: Any) -> str:
    """A small VastInstance manifest (one RTX 4090 of the simulator's market)."""
    body = {"offer": {"query": {"gpuName": "RTX 4090", "numGpus": 1}},
            "image": "vastai/base-image:latest", "disk": 16, "maxPricePerHour": 2.0,
            **spec}  # fmt: skip
    return json.dumps({"apiVersion": "vast.ai/v1alpha1", "kind": "VastInstance",
                       "metadata": {"name": name}, "spec": body})  # fmt: skip


def get(kind: kc.KindCluster, *args: str) -> Any:
    out = kind.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(out) if out.strip() else None


def phase(kind: kc.KindCluster, ns: str, name: str, plural: str = "vastinstances") -> str:
    obj = get(kind, plural, name, "-n", ns)
    return str(((obj or {}).get("status") or {}).get("phase") or "")


def operator_pods(kind: kc.KindCluster, ns: str = kc.RELEASE_NS) -> list[dict[str, Any]]:
    pods = get(kind, "pods", "-n", ns, "-l", "app.kubernetes.io/component=operator")
    return [p for p in (pods or {}).get("items", []) if not p["metadata"].get("deletionTimestamp")]


def ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def logs(kind: kc.KindCluster, pod: str, ns: str = kc.RELEASE_NS) -> str:
    return kind.kubectl("logs", "-n", ns, pod, "--tail", "2000", check=False)


CREATE = "PUT /api/v0/asks/{id}/"


def live_instances_for(sim: Sim, uid: str) -> list[dict[str, Any]]:
    """Instances of an object that still bill (an unloading row is already destroyed)."""
    return [i for i in sim.instances_for(uid) if i.get("phase") != "unloading"]


def new_namespace(kind: kc.KindCluster, prefix: str) -> str:
    name = f"{prefix}-{int(time.time() * 1000) % 10**8}"
    kind.kubectl("create", "namespace", name)
    return name


def apply(kind: kc.KindCluster, ns: str, manifest: str) -> None:
    kind.kubectl("apply", "-n", ns, "-f", "-", input=manifest)


def uid_of(kind: kc.KindCluster, ns: str, name: str) -> str:
    return str(get(kind, "vastinstances", name, "-n", ns)["metadata"]["uid"])


def wait_running(kind: kc.KindCluster, ns: str, name: str, timeout: float = 240) -> None:
    try:
        wait_for(f"{ns}/{name} Running", lambda: phase(kind, ns, name) == "Running", timeout)
    except AssertionError as exc:
        pods = [p["metadata"]["name"] for p in operator_pods(kind)]
        obj = get(kind, "vastinstances", name, "-n", ns)
        tail = "\n".join(logs(kind, p)[-3000:] for p in pods)
        raise AssertionError(f"{exc}\nobject: {obj}\noperator logs:\n{tail}") from None


def wait_rollout(kind: kc.KindCluster, deployment: str, ns: str = kc.RELEASE_NS) -> None:
    kind.kubectl("rollout", "status", "-n", ns, f"deployment/{deployment}", "--timeout=240s",
                 timeout=260)  # fmt: skip


def helm_upgrade(kind: kc.KindCluster, *sets: str) -> None:
    """`helm upgrade --reuse-values` of the suite's release with changed values, waiting."""
    args = [a for s in sets for a in ("--set", s)]
    kind.helm("upgrade", kc.RELEASE, kc.CHART, "-n", kc.RELEASE_NS, "--reuse-values",
              "--wait", "--timeout", "5m", *args, timeout=420)  # fmt: skip
