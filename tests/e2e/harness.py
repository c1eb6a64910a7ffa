"""Run the real operator (as a subprocess) against the control plane and the simulator.

The operator authenticates with a ServiceAccount token bound to the Helm chart's RBAC, so every
API call it makes is checked by the real authorizer. It watches only the test's namespace, so
tests cannot disturb each other's objects.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = 90.0, interval: float = 0.3
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


class OperatorProcess:
    """One `vast-operator run` process; can be killed (SIGKILL) and started again."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        vast_url: str,
        api_key: str | None,
        namespace: str,
        log_path: Path,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.vast_url = vast_url
        self.api_key = api_key
        self.namespace = namespace
        self.log_path = log_path
        self.extra_args = extra_args or []
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> OperatorProcess:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAST_", "KUBECONFIG"))}
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            VAST_URL=self.vast_url,
            PYTHONUNBUFFERED="1",
        )
        if self.api_key:
            env["VAST_API_KEY"] = self.api_key
        # As the chart does: an operator-wide price cap, so objects without their own still rent.
        env["VAST_MAX_PRICE_PER_HOUR"] = "50"
        env.update(self.extra_env)
        argv = [
            sys.executable,
            "-m",
            "vast_operator.cli",
            "run",
            "--namespace",
            self.namespace,
            "--liveness-port",
            "0",
            "--metrics-port",
            "0",
            "--poll-interval",
            "1",
            "--rate-limit-scale",
            "0",
            "--requests-per-second",
            "200",
            "--vast-timeout",
            "3",
            "--backoff-base",
            "0.2",
            "--min-boot-timeout",  # the simulator boots in seconds; tests use short timeouts
            "1",
            *self.extra_args,
        ]
        log = self.log_path.open("ab")
        log.write(f"\n===== start #{self.starts + 1} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        self.starts += 1
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last status write, exactly like a node dying."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def instance_manifest(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "offer": {"query": {"gpuName": "RTX 4090", "numGpus": 1}},
        "image": "vastai/base-image:latest",
        "disk": 16,
        "placement": {"bootTimeout": "30s", "maxAttempts": 3},
    }
    body.update(spec)
    return {
        "apiVersion": "vast.ai/v1alpha1",
        "kind": "VastInstance",
        "metadata": {"name": name},
        "spec": body,
    }


class Kubectl:
    """Small conveniences over the fixture's kubectl for the operator's objects."""

    def __init__(self, cluster: Any, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def apply(self, manifest: dict[str, Any] | str) -> subprocess.CompletedProcess[str]:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        return self.cluster.kubectl(  # type: ignore[no-any-return]
            "apply", "-n", self.namespace, "-f", "-", input=text, check=False
        )

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        out = self.cluster.kubectl(
            "get", kind, name, "-n", self.namespace, "-o", "json", check=False
        )
        if out.returncode != 0:
            return None
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    def list(self, kind: str) -> list[dict[str, Any]]:
        out = self.cluster.kubectl("get", kind, "-n", self.namespace, "-o", "json")
        return list(json.loads(out.stdout)["items"])

    def delete(self, kind: str, name: str, wait: bool = False) -> None:
        self.cluster.kubectl(
            "delete",
            kind,
            name,
            "-n",
            self.namespace,
            f"--wait={str(wait).lower()}",
            "--ignore-not-found",
            check=False,
        )

    def patch(self, kind: str, name: str, patch: dict[str, Any]) -> None:
        self.cluster.kubectl(
            "patch", kind, name, "-n", self.namespace, "--type", "merge", "-p", json.dumps(patch)
        )

    def status(self, kind: str, name: str) -> dict[str, Any]:
        obj = self.get(kind, name)
        return dict((obj or {}).get("status") or {})

    def phase(self, kind: str, name: str) -> str | None:
        return self.status(kind, name).get("phase")

    def condition(self, kind: str, name: str, type_: str) -> dict[str, Any] | None:
        for cond in self.status(kind, name).get("conditions") or []:
            if cond.get("type") == type_:
                return dict(cond)
        return None

    def events(self) -> list[dict[str, Any]]:
        out = self.cluster.kubectl("get", "events", "-n", self.namespace, "-o", "json")
        return list(json.loads(out.stdout)["items"])

    def wait_phase(self, kind: str, name: str, phase: str, timeout: float = 90.0) -> dict[str, Any]:
        return wait_for(
            f"{kind}/{name} phase {phase}",
            lambda: self.status(kind, name) if self.phase(kind, name) == phase else None,
            timeout,
        )

    def wait_gone(self, kind: str, name: str, timeout: float = 90.0) -> None:
        wait_for(f"{kind}/{name} to be gone", lambda: self.get(kind, name) is None, timeout)


class VastView:
    """Reads the simulator through the real Vast API (what a user's `vastai` would see)."""

    def __init__(self, url: str, api_key: str) -> None:
        import httpx

        self._http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        )

    def instances(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params = {"limit": "25"}
            if token:
                params["after_token"] = token
            data = self._http.get("/api/v1/instances/", params=params).raise_for_status().json()
            # A destroyed instance is listed as "unloaded" for a while: it no longer bills.
            rows.extend(i for i in data.get("instances") or [] if i.get("cur_state") != "unloaded")
            token = data.get("next_token")
            if not token:
                return rows

    def instances_for(self, uid: str) -> list[dict[str, Any]]:
        return [i for i in self.instances() if i.get("label") == f"k8s-vast-operator:{uid}"]

    def managed(self) -> dict[str, list[int]]:
        """uid -> instance ids, for every instance the operator labelled."""
        result: dict[str, list[int]] = {}
        for inst in self.instances():
            label = inst.get("label") or ""
            if label.startswith("k8s-vast-operator:"):
                result.setdefault(label.split(":", 1)[1], []).append(int(inst["id"]))
        return result

    def instance_ssh_keys(self, instance_id: int) -> list[str]:
        data = self._http.get(f"/api/v0/instances/{instance_id}/ssh/").raise_for_status().json()
        rows = data.get("ssh_keys") or "[]"
        rows = json.loads(rows) if isinstance(rows, str) else rows
        return [str(r.get("public_key") or r.get("ssh_key") or "").strip() for r in rows]

    def volumes(self) -> list[dict[str, Any]]:
        data = self._http.get("/api/v0/volumes", params={"owner": "me"}).raise_for_status()
        return list(data.json().get("volumes") or [])

    def _results(self, path: str) -> list[dict[str, Any]]:
        response = self._http.get(path)
        if response.status_code == 400 and "No " in response.text:
            return []  # Vast's documented answer for an account with none
        return list(response.raise_for_status().json().get("results") or [])

    def endpoints(self) -> list[dict[str, Any]]:
        return self._results("/api/v0/endptjobs/")

    def workergroups(self) -> list[dict[str, Any]]:
        return self._results("/api/v0/autojobs/")

    def close(self) -> None:
        self._http.close()
