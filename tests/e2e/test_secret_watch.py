"""Referenced Secrets are watched: a created or changed Secret is acted on when it happens.

The operator runs with the chart's RBAC (`operator_kubeconfig`), so these tests also prove that
the chart grants the one verb the watch needs. That the change came through the watch, and not
through the periodic re-read that remains as the fallback, is shown by the operator's own
counter of Secret changes seen by watches (`vast_operator_secret_changes_total`).
"""

from __future__ import annotations

import queue
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest
from test_metrics_and_chart import metric

from harness import Kubectl, OperatorProcess, instance_manifest, wait_for
from vast_operator.kube import load_configuration
from vast_operator.kube_watch import SecretStream
from vast_operator.secretwatch import CHANGED

KIND = "vastinstances"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def secret(name: str, key: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {"api-key": key},
    }


@pytest.fixture
def watched_operator(
    operator_kubeconfig: Path, sim: Any, namespace: str, k: Kubectl, tmp_path: Path
) -> Any:
    port = free_port()
    proc = OperatorProcess(
        kubeconfig=operator_kubeconfig,
        vast_url=sim.url,
        api_key=None,  # no default key: every object needs its credentials Secret
        namespace=namespace,
        log_path=tmp_path / "op.log",
        extra_args=["--metrics-port", str(port)],
    ).start()

    def changes() -> float:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        return metric(text, "vast_operator_secret_changes_total") or 0.0

    wait_for("the metrics endpoint", lambda: _answers(port))
    try:
        yield proc, changes
    finally:
        k.cluster.kubectl("delete", KIND, "--all", "-n", namespace, "--wait=false", check=False)
        wait_for("the objects to be deleted", lambda: not k.list(KIND), timeout=90)
        proc.stop()
        print(proc.logs()[-6000:])


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_credentials_secret_created_later_is_noticed_by_its_watch(
    k: Kubectl, sim: Any, watched_operator: Any
) -> None:
    _, changes = watched_operator
    k.apply(instance_manifest("late-creds", credentialsRef={"name": "vast-late"}))
    wait_for(
        "CredentialsNotFound",
        lambda: (
            (k.condition(KIND, "late-creds", "Synced") or {}).get("reason") == "CredentialsNotFound"
        ),
    )
    assert changes() == 0
    k.apply(secret("vast-late", sim.api_key))
    k.wait_phase(KIND, "late-creds", "Running")
    assert changes() >= 1  # the watch saw the Secret appear


def test_a_rotated_key_is_noticed_by_its_watch(k: Kubectl, sim: Any, watched_operator: Any) -> None:
    _, changes = watched_operator
    k.apply(secret("vast-rotate", sim.api_key))
    k.apply(instance_manifest("rotating", credentialsRef={"name": "vast-rotate"}))
    k.wait_phase(KIND, "rotating", "Running")
    before = changes()
    k.apply(secret("vast-rotate", "rotated-" + "z" * 24))  # a key of no account
    wait_for("the watch to see the change", lambda: changes() > before)
    # The object acts on the new key (this one is refused; it never reaches another account).
    wait_for(
        "the new key to be used",
        lambda: (k.condition(KIND, "rotating", "Synced") or {}).get("status") == "False",
    )


def test_one_secret_stream_reports_creation_change_and_deletion(
    k: Kubectl, operator_kubeconfig: Path, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream itself, against the API server, with the chart's RBAC (watch, no list)."""
    monkeypatch.setenv("KUBECONFIG", str(operator_kubeconfig))
    core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(load_configuration()))
    seen: queue.Queue[str] = queue.Queue()
    stream = SecretStream(core, namespace, "streamed", seen.put)
    stream.start()
    try:
        time.sleep(1.0)  # let the stream start on the missing Secret (not a timing assertion)
        assert seen.empty()
        k.apply(secret("streamed", "one"))
        assert seen.get(timeout=30) == CHANGED
        k.apply(secret("streamed", "two"))
        assert seen.get(timeout=30) == CHANGED
        k.delete("secret", "streamed")
        assert seen.get(timeout=30) == CHANGED
        time.sleep(1.0)
        assert seen.empty()  # one event per change, no repeats
    finally:
        stream.stop()
