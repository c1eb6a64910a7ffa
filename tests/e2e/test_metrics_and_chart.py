"""Prometheus metrics, and the operator running with the RBAC of a real `helm install`."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import httpx

from harness import ROOT, Kubectl, OperatorProcess, VastView, instance_manifest, wait_for

KIND = "vastinstances"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.match(r"^([a-zA-Z_:]+)(\{.*\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


def test_metrics_report_objects_money_and_api_calls(
    k: Kubectl,
    operator_kubeconfig: Path,
    sim: Any,
    namespace: str,
    tmp_path: Path,
) -> None:
    metrics_port, health_port = free_port(), free_port()
    proc = OperatorProcess(
        kubeconfig=operator_kubeconfig,
        vast_url=sim.url,
        api_key=sim.api_key,
        namespace=namespace,
        log_path=tmp_path / "op.log",
        extra_args=["--metrics-port", str(metrics_port), "--liveness-port", str(health_port)],
    ).start()
    try:
        k.apply(instance_manifest("measured"))
        status = k.wait_phase(KIND, "measured", "Running")
        url = f"http://127.0.0.1:{metrics_port}/metrics"

        def scrape() -> str | None:
            text = httpx.get(url, timeout=5).text
            running = metric(text, "vast_operator_objects", kind=KIND, phase="Running")
            return text if running == 1 else None

        text = wait_for("metrics to show the running instance", scrape)
        assert metric(text, "vast_operator_instances_by_gpu", gpu_name="RTX 4090") == 1
        dollars = metric(text, "vast_operator_running_dollars_per_hour")
        assert dollars is not None and abs(dollars - status["pricePerHour"]) < 1e-6
        rents = metric(
            text,
            "vast_operator_vast_api_requests_total",
            method="PUT",
            route="PUT /api/v0/asks/{id}/",
            outcome="ok",
        )
        assert rents == 1
        listings = metric(
            text,
            "vast_operator_vast_api_request_seconds_count",
            route="GET /api/v1/instances/",
        )
        assert listings is not None and listings >= 1
        assert metric(text, "vast_operator_reconciles_total", kind=KIND)
        assert metric(text, "vast_operator_rate_limit_waits") is not None
        assert sim.api_key not in text
        health = httpx.get(f"http://127.0.0.1:{health_port}/healthz", timeout=5)
        assert health.status_code == 200
        k.delete(KIND, "measured")
        k.wait_gone(KIND, "measured")
    finally:
        proc.stop()


def test_operator_with_the_rbac_of_a_helm_install_completes_a_lifecycle(
    cluster: Any,
    crds: None,
    sim: Any,
    vast: VastView,
    namespace: str,
    k: Kubectl,
    tmp_path: Path,
) -> None:
    release = "lifecycle"
    chart = str(ROOT / "deploy" / "helm" / "vast-operator")
    cluster.helm(
        "install", release, chart,
        "--namespace", namespace,
        "--set", "crds.enabled=false",
        "--set", "replicaCount=0",
        "--set", f"watchNamespaces={{{namespace}}}",
        "--set", f"vast.url={sim.url}",
        "--wait=false",
    )  # fmt: skip
    try:
        sa = f"{release}-vast-operator"
        kubeconfig = Path(cluster.sa_kubeconfig(namespace, sa))
        proc = OperatorProcess(
            kubeconfig=kubeconfig,
            vast_url=sim.url,
            api_key=sim.api_key,
            namespace=namespace,
            log_path=tmp_path / "op.log",
        ).start()
        try:
            k.apply(instance_manifest("helmed", writeConnectionSecretToRef={"name": "helmed-ssh"}))
            status = k.wait_phase(KIND, "helmed", "Running")
            wait_for("connection secret", lambda: k.get("secret", "helmed-ssh"))
            uid = str(k.get(KIND, "helmed")["metadata"]["uid"])  # type: ignore[index]
            assert [i["id"] for i in vast.instances_for(uid)] == [status["instanceId"]]
            k.delete(KIND, "helmed")
            k.wait_gone(KIND, "helmed")
            assert vast.instances_for(uid) == []
            assert "Forbidden" not in proc.logs() and "forbidden" not in proc.logs()
        finally:
            proc.stop()
    finally:
        cluster.helm("uninstall", release, "--namespace", namespace, check=False)
