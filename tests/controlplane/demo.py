#!/usr/bin/env python3
"""`make demo`: the whole product on one machine, no Vast credit needed.

Expects the control plane from `envtest.py up --state-dir DIR` (the Makefile starts it first).
Then it starts the Vast simulator and the operator in the background (the operator with the
Helm chart's ServiceAccount token, so it has exactly the chart's RBAC), applies the CRDs and
the examples into the namespace `vast-demo`, waits for them, and prints `kubectl get vast`.

    python tests/controlplane/demo.py up --state-dir .dev
    python tests/controlplane/demo.py down --state-dir .dev
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import envtest  # noqa: E402

DEMO_NS = "vast-demo"
OPERATOR_NS = "vast-system"
EXAMPLES = ("devbox.yaml", "jupyter.yaml", "volume-with-instance.yaml", "endpoint.yaml")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def _spawn(argv: list[str], log: Path, pid_file: Path, env: dict[str, str]) -> None:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    pid_file.write_text(str(proc.pid))


class Demo:
    def __init__(self, state_dir: Path) -> None:
        self.state = state_dir.resolve()
        self.dir = self.state / "demo"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = self.state / "kubeconfig"
        self.tools = envtest.ensure_client_tools()
        self.cluster = envtest.Cluster(self.kubeconfig, self.tools, self.dir / "cluster")
        self.bin = Path(sys.executable).parent

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [str(self.tools.kubectl), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def up(self) -> None:
        if not self.kubeconfig.exists():
            raise SystemExit("no control plane: run `make cluster` first")
        config_file = self.dir / "config.json"
        config = json.loads(config_file.read_text()) if config_file.exists() else {}
        if not config:
            config = {"sim_port": free_port(), "api_key": "demo-" + secrets.token_hex(12)}
            config_file.write_text(json.dumps(config))
        sim_url = f"http://127.0.0.1:{config['sim_port']}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAST_")}

        if not _alive(self.dir / "sim.pid"):
            print(f"starting the Vast simulator on {sim_url}")
            _spawn(
                [
                    str(self.bin / "vast-sim"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(config["sim_port"]),
                    "--api-key",
                    config["api_key"],
                    "--boot-seconds",
                    "5",
                    "--state-file",
                    str(self.dir / "sim-state.json"),
                ],
                self.dir / "sim.log",
                self.dir / "sim.pid",
                env,
            )
        print("installing the CRDs")
        self.kubectl("apply", "--server-side", "-f", str(ROOT / "deploy" / "crds"))
        for plural in ("vastinstances", "vastvolumes", "vastendpoints"):
            for _ in range(60):  # a brand-new CRD has no conditions yet: retry kubectl wait
                done = self.kubectl(
                    "wait", "--for=condition=Established", f"crd/{plural}.vast.ai", check=False
                )
                if done:
                    break
                time.sleep(0.5)

        print("creating the operator's ServiceAccount and RBAC from the Helm chart")
        op_kubeconfig = self.cluster.chart_rbac_kubeconfig(
            OPERATOR_NS, "demo", self.dir / "operator-kubeconfig", expiration_seconds=24 * 3600
        )

        for _ in range(120):  # the operator's first calls must not meet a half-started server
            if self.kubectl("get", "--raw", "/readyz", check=False):
                break
            time.sleep(0.5)
        if not _alive(self.dir / "operator.pid"):
            print("starting the operator (paced as against Vast: the simulator is strict)")
            op_env = dict(
                env, KUBECONFIG=str(op_kubeconfig), VAST_URL=sim_url, VAST_API_KEY=config["api_key"]
            )
            _spawn(
                [
                    str(self.bin / "vast-operator"),
                    "run",
                    "--poll-interval",
                    "2",
                    "--liveness-port",
                    "0",
                    "--metrics-port",
                    "0",
                ],
                self.dir / "operator.log",
                self.dir / "operator.pid",
                op_env,
            )
        print(f"applying the examples into namespace {DEMO_NS}")
        self.kubectl("create", "namespace", DEMO_NS, check=False)
        for name in EXAMPLES:
            self.kubectl("apply", "-n", DEMO_NS, "-f", str(ROOT / "examples" / name))

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            phases = self.kubectl(
                "get", "vastinstances", "-n", DEMO_NS, "-o", "jsonpath={.items[*].status.phase}"
            ).split()
            if len(phases) >= 3 and all(p == "Running" for p in phases):
                break
            time.sleep(2)
        print()
        print(self.kubectl("get", "vast", "-n", DEMO_NS, "-o", "wide"))
        print(
            "The demo is up: a local Kubernetes API, the Vast simulator and the operator.\n"
            f"  export KUBECONFIG={self.kubeconfig}\n"
            f"  {self.tools.kubectl} get vast -n {DEMO_NS}\n"
            f"  {self.tools.kubectl} describe vastinstance devbox -n {DEMO_NS}\n"
            f"  logs: {self.dir}/operator.log and {self.dir}/sim.log\n"
            "Stop it with `make demo-down`."
        )

    def down(self) -> None:
        if _alive(self.dir / "operator.pid") and _alive(self.dir / "sim.pid"):
            # Delete the demo's objects while the operator runs, so it destroys what it rented
            # and the simulator's saved state holds nothing a second `make demo` would meet.
            print("deleting the Vast objects (the operator destroys their Vast resources)")
            self.kubectl(
                "delete",
                "vastinstances,vastvolumes,vastendpoints",
                "--all",
                "--all-namespaces",  # the demo's and the tour's
                "--timeout=120s",
                check=False,
            )
        for name in ("operator", "sim"):
            pid_file = self.dir / f"{name}.pid"
            if _alive(pid_file):
                pid = int(pid_file.read_text())
                os.killpg(pid, signal.SIGTERM)
                for _ in range(50):
                    if not _alive(pid_file):
                        break
                    time.sleep(0.2)
                else:
                    os.killpg(pid, signal.SIGKILL)
            pid_file.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--state-dir", default=".dev", type=Path)
    args = parser.parse_args()
    demo = Demo(args.state_dir)
    demo.up() if args.command == "up" else demo.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
