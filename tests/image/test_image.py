"""The container image: how it is built, and that its operator works (docs/image.md).

The image (``vast-operator:test``) is built by ``imagekit`` on a locally debootstrapped Debian
bookworm base before the first test (see conftest.py). The last test runs the image's operator
with ``--network host`` against the local control plane and the simulator, authenticated as the
chart's ServiceAccount (the chart's RBAC, not admin), and brings a VastInstance to Running and
back to nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import imagekit
import pytest
import yaml

pytestmark = [pytest.mark.image, pytest.mark.cluster]

ROOT = imagekit.ROOT
CHART = ROOT / "deploy" / "helm" / "vast-operator"
UID = 10001
T = TypeVar("T")


def docker(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """docker with captured text output (no check: tests look at returncode themselves)."""
    return subprocess.run(
        [imagekit.docker_bin(), *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=imagekit.docker_env(),
        check=False,
    )


def inspect(ref: str) -> dict[str, Any]:
    result = docker("image", "inspect", ref)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)[0]
    return data


def in_image(
    image: str, *cmd: str, entrypoint: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command in a throwaway container, read-only like the chart runs it."""
    args = ["run", "--rm", "--read-only", "--tmpfs", "/tmp", "--network", "none"]
    if entrypoint is not None:
        args += ["--entrypoint", entrypoint]
    return docker(*args, image, *cmd)


# --------------------------------------------------------------------------------------------
# What is in the image
# --------------------------------------------------------------------------------------------


def test_runs_as_fixed_non_root_user(image: imagekit.BuiltImage) -> None:
    config = inspect(image.image)["Config"]
    assert config["User"] == f"{UID}:{UID}", config["User"]
    result = in_image(image.image, "-c", "id -u; id -g", entrypoint="sh")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(UID), str(UID)]


def test_entrypoint_is_the_operator(image: imagekit.BuiltImage) -> None:
    config = inspect(image.image)["Config"]
    assert config["Entrypoint"] == ["vast-operator"]
    assert config["Cmd"] == ["run"]
    assert config["Labels"][imagekit.SOURCE_LABEL] == image.source_hash


def test_no_compilers_or_build_tools(image: imagekit.BuiltImage) -> None:
    tools = "gcc cc c++ g++ clang make ld as pip pip3"
    result = in_image(
        image.image, "-c", f"for t in {tools}; do command -v $t; done; true", entrypoint="sh"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"build tools in the final image:\n{result.stdout}"
    no_pip = in_image(image.image, "-c", "import pip", entrypoint="python3")
    assert no_pip.returncode != 0, "pip is importable in the final image"


def test_cli_works_on_a_read_only_root(image: imagekit.BuiltImage) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = in_image(image.image, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == version
    sim_help = in_image(image.image, "--help", entrypoint="vast-sim")
    assert sim_help.returncode == 0, sim_help.stderr
    assert "usage: vast-sim" in sim_help.stdout
    run_help = in_image(image.image, "run", "--help")
    assert run_help.returncode == 0, run_help.stderr
    assert "--namespace" in run_help.stdout


# --------------------------------------------------------------------------------------------
# The image's operator against the control plane and the simulator
# --------------------------------------------------------------------------------------------

INSTANCE = """
apiVersion: vast.ai/v1alpha1
kind: VastInstance
metadata: {name: from-image}
spec:
  offer: {query: {gpuName: "RTX 4090", numGpus: 1}}
  image: vastai/base-image:latest
  disk: 16
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Container:
    """One detached `docker run`; its logs are kept when it is removed."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path

    def running(self) -> bool:
        result = docker("inspect", "--format", "{{.State.Running}}", self.name)
        return result.stdout.strip() == "true"

    def logs(self, tail: int = 60) -> str:
        result = docker("logs", "--tail", str(tail), self.name)
        return (result.stdout + result.stderr).strip() or (
            self.log_path.read_text() if self.log_path.exists() else ""
        )

    def remove(self) -> None:
        result = docker("logs", self.name)
        if result.returncode == 0:
            self.log_path.write_text(result.stdout + result.stderr)
        docker("rm", "--force", self.name, timeout=60)


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    *,
    container: Container,
    details: Callable[[], str] = lambda: "",
) -> T:
    """Poll until `probe` is truthy; fail early if the container died, with its logs."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        if not container.running():
            pytest.fail(
                f"operator container exited while waiting for {what}\n{details()}\n"
                f"--- container logs ---\n{container.logs()}",
                pytrace=False,
            )
        time.sleep(0.5)
    pytest.fail(
        f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}\n{details()}\n"
        f"--- container logs ---\n{container.logs()}",
        pytrace=False,
    )


@contextlib.contextmanager
def chart_identity(cluster: Any, namespace: str) -> Iterator[Path]:
    """The chart's ServiceAccount and RBAC (watching `namespace` only); that SA's kubeconfig."""
    release = f"img-{secrets.token_hex(3)}"
    rendered = cluster.helm(
        "template",
        release,
        CHART,
        "--namespace",
        namespace,
        "--set",
        "crds.enabled=false",
        "--set",
        f"watchNamespaces={{{namespace}}}",
        "--show-only",
        "templates/serviceaccount.yaml",
        "--show-only",
        "templates/rbac.yaml",
    ).stdout
    cluster.kubectl("apply", "-f", "-", input=rendered)
    try:
        sa = next(
            doc["metadata"]["name"]
            for doc in yaml.safe_load_all(rendered)
            if doc and doc.get("kind") == "ServiceAccount"
        )
        yield Path(cluster.sa_kubeconfig(namespace, sa))
    finally:
        # The namespace takes the SA and Role with it; the cluster-scoped objects go here.
        cluster.kubectl(
            "delete", "-f", "-", "--ignore-not-found", "--wait=false", input=rendered, check=False
        )


def readable_by_container(kubeconfig: Path, dest: Path) -> Path:
    """A copy of the (0600, root-owned) kubeconfig that uid 10001 can read."""
    shutil.copyfile(kubeconfig, dest)
    try:
        os.chown(dest, UID, UID)
        dest.chmod(0o600)
    except PermissionError:  # not root (a docker-group user): make it world-readable instead
        dest.chmod(0o644)
    return dest


def sim_instances(sim: Any) -> list[dict[str, Any]]:
    """Live instances: a destroyed one is listed as "unloaded" for a while and bills nothing."""
    with httpx.Client(base_url=sim.url, headers=sim.headers, timeout=30) as http:
        data = http.get("/api/v1/instances/", params={"limit": "25"}).raise_for_status().json()
    return [i for i in data.get("instances") or [] if i.get("cur_state") != "unloaded"]


@pytest.mark.timeout(420)
def test_image_operator_runs_an_instance(
    image: imagekit.BuiltImage, cluster: Any, namespace: str, tmp_path: Path
) -> None:
    from vast_sim.testing import run_sim_subprocess

    cluster.kubectl("apply", "--server-side", "-f", ROOT / "deploy" / "crds")
    cluster.wait_established(
        "vastinstances.vast.ai", "vastvolumes.vast.ai", "vastendpoints.vast.ai"
    )

    def phase() -> str:
        result = cluster.kubectl(
            "get",
            "vastinstance",
            "from-image",
            "-n",
            namespace,
            "-o",
            "jsonpath={.status.phase}",
            check=False,
        )
        return result.stdout.strip() if result.returncode == 0 else f"<{result.stderr.strip()}>"

    def status() -> str:
        result = cluster.kubectl(
            "get", "vastinstance", "from-image", "-n", namespace, "-o", "yaml", check=False
        )
        return f"--- VastInstance ---\n{result.stdout or result.stderr}"

    api_key = "sim-" + secrets.token_hex(16)
    with (
        chart_identity(cluster, namespace) as sa_kubeconfig,
        # The container's operator runs unpaced (--rate-limit-scale 0) for speed: the simulator
        # relaxes its per-route limits only (pacing is proven by tests/bench).
        run_sim_subprocess(api_key=api_key, boot_seconds=1.0, relax=["rate_limits"]) as sim,
    ):
        kubeconfig = readable_by_container(sa_kubeconfig, tmp_path / "kubeconfig")
        liveness = free_port()
        container = Container(f"vast-operator-test-{secrets.token_hex(4)}", tmp_path / "op.log")
        started = docker(
            "run",
            "--detach",
            "--name",
            container.name,
            "--network",
            "host",
            "--read-only",
            "--tmpfs",
            "/tmp",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--volume",
            f"{kubeconfig}:/kube/config:ro",
            "--env",
            "KUBECONFIG=/kube/config",
            "--env",
            f"VAST_URL={sim.url}",
            "--env",
            f"VAST_API_KEY={api_key}",
            image.image,
            "run",
            "--namespace",
            namespace,
            "--poll-interval",
            "1",
            "--rate-limit-scale",
            "0",
            "--max-price-per-hour",  # as the chart sets it: nothing is rented without a cap
            "50",
            "--liveness-port",
            str(liveness),
            "--metrics-port",
            "0",
        )
        assert started.returncode == 0, f"docker run failed:\n{started.stderr}"
        try:
            cluster.apply_yaml(INSTANCE, namespace=namespace)
            uid = cluster.get_json("vastinstance", "from-image", namespace=namespace)["metadata"][
                "uid"
            ]
            wait_for(
                "VastInstance from-image to be Running",
                lambda: phase() == "Running" or None,
                120,
                container=container,
                details=status,
            )
            labelled = [
                i for i in sim_instances(sim) if i.get("label") == f"k8s-vast-operator:{uid}"
            ]
            assert len(labelled) == 1, f"simulator instances for {uid}: {labelled}"

            def healthz() -> bool:
                try:
                    response = httpx.get(f"http://127.0.0.1:{liveness}/healthz", timeout=5)
                except httpx.HTTPError:
                    return False
                return response.status_code == 200

            wait_for(f"liveness on :{liveness}/healthz", healthz, 30, container=container)

            cluster.kubectl("delete", "vastinstance", "from-image", "-n", namespace, "--wait=false")
            wait_for(
                "VastInstance from-image to be gone (finalizer released)",
                lambda: "NotFound" in phase() or None,
                90,
                container=container,
                details=status,
            )
            left = [i for i in sim_instances(sim) if i.get("label") == f"k8s-vast-operator:{uid}"]
            assert left == [], f"instances left on the simulator after deletion: {left}"
        finally:
            container.remove()
