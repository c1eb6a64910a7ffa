"""A kind cluster with the operator installed by Helm, as a user runs it (docs/kind.md).

``up()``: the Go tools, a Docker engine that can run kind nodes on this machine, the operator
image (imagekit, the real Dockerfile), the node image (nodeimage), ``kind create cluster``,
``kind load docker-image``, ``helm upgrade --install`` with the chart's simulator, and (for
``make kind``) the examples, waited for until they reach their ready phases.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import engine
import nodeimage
import yaml
from engine import ROOT, KindError, Tools, Workarounds, envtest, imagekit, log

CHART = ROOT / "deploy" / "helm" / "vast-operator"
OPERATOR_IMAGE = imagekit.IMAGE  # vast-operator:test
RELEASE = "vast-operator"
RELEASE_NS = "vast-system"
EXAMPLES_NS = "vast-demo"
PLURALS = {"VastInstance": "vastinstances", "VastVolume": "vastvolumes",
           "VastEndpoint": "vastendpoints"}  # fmt: skip
READY_PHASE = {"VastVolume": "Available", "VastEndpoint": "Ready"}


def kind_config(name: str, node_image: str, work: Workarounds) -> str:
    """kind's cluster config: one node, our node image, and the workarounds this machine needs."""
    patches = [
        # kubeadm would ask for the etcd its release notes name; the image holds the etcd the
        # control plane is built with, tagged with its real version.
        {"kind": "ClusterConfiguration",
         "etcd": {"local": {"imageTag": nodeimage.etcd_tag()}}},
    ]  # fmt: skip
    if work.cgroup_v1:
        # kubelet >= 1.35 refuses to start on cgroup v1 unless told otherwise.
        patches.append({"kind": "KubeletConfiguration", "failCgroupV1": False})
    config: dict[str, Any] = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": name,
        "networking": {"podSubnet": nodeimage.POD_SUBNET},
        "nodes": [{"role": "control-plane", "image": node_image}],
        "kubeadmConfigPatches": [yaml.safe_dump(p) for p in patches],
    }
    if work.drop_caps:
        # Privileged pods (kube-proxy) ask for every capability too: the node's containerd
        # starts them through the same wrapper as dockerd (hack/kind/runc-nocap). And without
        # CAP_SYS_RESOURCE no process may lower its oom_score_adj, which kubelet asks for
        # every pod sandbox (-998): containerd's restrict_oom_score_adj clamps it to its own.
        config["containerdConfigPatches"] = [
            '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n'
            '  BinaryName = "/usr/local/sbin/runc-nocap"\n'
            '[plugins."io.containerd.grpc.v1.cri"]\n'
            "  restrict_oom_score_adj = true\n"
        ]
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class KindCluster:
    name: str
    kubeconfig: Path
    tools: Tools
    client: envtest.ClientTools
    timings: dict[str, float] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """kind runs `docker`: Debian's CLI first (matches its dockerd); no proxies, nothing in
        the cluster reaches outside."""
        shim = Path(tempfile.gettempdir()) / "vast-kind-docker"
        shim.mkdir(exist_ok=True)
        link = shim / "docker"
        if not link.is_symlink():
            link.symlink_to(imagekit.docker_bin())
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env["PATH"] = f"{shim}:{env.get('PATH', '/usr/bin:/bin')}"
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def run(
        self, argv: Sequence[str | Path], *, timeout: float = 600, check: bool = True,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        result = subprocess.run(
            [str(a) for a in argv], input=input, capture_output=True, text=True,
            timeout=timeout, env=self.env(), check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise KindError(
                f"`{' '.join(str(a) for a in argv[:4])} ...` exit {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()[-3000:]}"
            )
        return result

    def kind(self, *args: str | Path, timeout: float = 600, check: bool = True) -> str:
        return self.run([self.tools.kind, *args], timeout=timeout, check=check).stdout

    def kubectl(self, *args: str | Path, check: bool = True, input: str | None = None,
                timeout: float = 120) -> str:  # fmt: skip
        argv = [self.client.kubectl, "--kubeconfig", self.kubeconfig, *args]
        return self.run(argv, check=check, input=input, timeout=timeout).stdout

    def helm(self, *args: str | Path, timeout: float = 600) -> str:
        argv = [self.client.helm, "--kubeconfig", self.kubeconfig, *args]
        return self.run(argv, timeout=timeout).stdout

    def exists(self) -> bool:
        return self.name in self.kind("get", "clusters", check=False).split()

    def node(self) -> str:
        return f"{self.name}-control-plane"


def _step(timings: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    started = time.monotonic()
    log(f"{name} ...")
    out = fn()
    timings[name] = round(time.monotonic() - started, 1)
    log(f"{name}: {timings[name]}s")
    return out


def prepare(name: str, kubeconfig: Path) -> tuple[KindCluster, Workarounds, str]:
    """Tools, engine, operator image and node image: everything before `kind create`."""
    timings: dict[str, float] = {}
    work = engine.detect()
    if work.reasons:
        log("this machine needs: " + "; ".join(work.reasons))
    tools = _step(timings, "Go tools", engine.ensure_tools)
    _step(timings, "Docker engine", lambda: engine.ensure_engine(work, tools))
    _step(timings, "operator image", imagekit.ensure_image)
    engine.check_privileged(imagekit.BASE_IMAGE)
    node_image, _, _ = _step(timings, "node image", lambda: nodeimage.ensure_node_image(tools))
    cluster = KindCluster(name, kubeconfig, tools, envtest.ensure_client_tools(), timings)
    return cluster, work, node_image


def create(cluster: KindCluster, work: Workarounds, node_image: str, fresh: bool) -> None:
    """`kind create cluster` (after deleting a leftover one when fresh), and the image loaded."""
    cluster.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    if fresh and cluster.exists():
        cluster.kind("delete", "cluster", "--name", cluster.name, timeout=300)
    if not cluster.exists():
        config = cluster.kubeconfig.parent / f"{cluster.name}.kind.yaml"
        config.write_text(kind_config(cluster.name, node_image, work))
        _step(cluster.timings, "kind create cluster", lambda: cluster.kind(
            "create", "cluster", "--name", cluster.name, "--config", config,
            "--kubeconfig", cluster.kubeconfig, "--wait", "3m", timeout=900,
        ))  # fmt: skip
    else:
        cluster.kind("export", "kubeconfig", "--name", cluster.name,
                     "--kubeconfig", cluster.kubeconfig)  # fmt: skip
    _step(cluster.timings, "kind load docker-image", lambda: cluster.kind(
        "load", "docker-image", OPERATOR_IMAGE, "--name", cluster.name, timeout=600,
    ))  # fmt: skip


def chart_values(*extra: str) -> list[str]:
    """The operator image as loaded into the node, and the chart's simulator."""
    repo, tag = OPERATOR_IMAGE.split(":")
    sets = [f"image.repository={repo}", f"image.tag={tag}", "image.pullPolicy=Never",
            "simulator.enabled=true", *extra]  # fmt: skip
    return [arg for s in sets for arg in ("--set", s)]


def install(cluster: KindCluster, *extra: str, release: str = RELEASE,
            namespace: str = RELEASE_NS) -> None:  # fmt: skip
    """`helm upgrade --install` the chart, waiting for its Deployments to be Available."""
    _step(cluster.timings, "helm install", lambda: cluster.helm(
        "upgrade", "--install", release, CHART, "--namespace", namespace, "--create-namespace",
        "--wait", "--timeout", "5m", *chart_values(*extra), timeout=420,
    ))  # fmt: skip


def examples() -> list[Path]:
    return sorted((ROOT / "examples").glob("*.yaml"))


def example_objects() -> list[tuple[str, str, str]]:
    """(plural, name, ready phase) of every operator object in examples/."""
    out = []
    for path in examples():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") in PLURALS:
                kind, spec = doc["kind"], doc.get("spec") or {}
                # the rule of tests/e2e/test_examples.py's ready_phase
                phase = READY_PHASE.get(kind, "Running")
                if kind == "VastInstance" and spec.get("restartPolicy") in ("OnFailure", "Never"):
                    phase = "Succeeded"  # a job: it finishes
                elif kind == "VastInstance" and spec.get("state") == "Stopped":
                    phase = "Stopped"
                out.append((PLURALS[kind], doc["metadata"]["name"], phase))
    return out


def apply_examples(cluster: KindCluster, namespace: str = EXAMPLES_NS,
                   timeout: float = 300) -> None:  # fmt: skip
    """Apply examples/ into `namespace` and wait until every object is in its ready phase."""
    cluster.kubectl("create", "namespace", namespace, check=False)
    for path in examples():
        cluster.kubectl("apply", "-n", namespace, "-f", path)
    wanted = example_objects()
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        seen = {
            f"{plural}/{name}": cluster.kubectl(
                "get", plural, name, "-n", namespace, "-o", "jsonpath={.status.phase}",
                check=False,
            ).strip()
            for plural, name, _ in wanted
        }  # fmt: skip
        if all(seen[f"{p}/{n}"] == phase for p, n, phase in wanted):
            return
        time.sleep(3)
    raise KindError(f"examples not ready after {timeout:.0f}s: {seen}")


def up(name: str, kubeconfig: Path, *, fresh: bool = False, with_examples: bool = True,
       values: Sequence[str] = ()) -> KindCluster:  # fmt: skip
    """Everything `make kind` does; returns the cluster (its timings filled in)."""
    started = time.monotonic()
    cluster, work, node_image = prepare(name, kubeconfig)
    create(cluster, work, node_image, fresh=fresh)
    install(cluster, *values)
    if with_examples:
        _step(cluster.timings, "examples ready", lambda: apply_examples(cluster))
    cluster.timings["total"] = round(time.monotonic() - started, 1)
    return cluster


def down(name: str) -> bool:
    """Delete the cluster if it exists; False when there was none (or no kind/Docker)."""
    kind = engine._kind_build()
    binary = envtest.bin_cache_dir() / f"kind-{kind.version}" / "kind"
    if not binary.is_file() or not imagekit._engine_answers():
        return False
    tools = engine.Tools(binary, Path(), Path(), Path(), envtest.ensure_binaries())
    cluster = KindCluster(name, Path(os.devnull), tools, envtest.ensure_client_tools())
    if not cluster.exists():
        return False
    cluster.kind("delete", "cluster", "--name", name, timeout=300)
    return True
