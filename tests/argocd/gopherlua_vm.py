"""ArgoCD's Lua VM for the health-check tests: gopher-lua, built from tests/argocd/gopherlua.

``tests/argocd/gopherlua/`` is a small Go program (``argocd-lua-health``) that sets up
gopher-lua the way argo-cd's ``util/lua`` does (the libraries it opens, the ``obj`` global, the
JSON round trip of the result) at the versions argo-cd's go.mod requires, runs one health.lua on
one object (JSON on stdin) and prints ``{"status", "message"}``.

It is built like the control plane's binaries (tests/controlplane/envtest.py ``go_build``): into
``${VAST_OPERATOR_CACHE:-~/.cache/vast-operator}/bin/argocd-lua-health-<source hash>-<gopher-lua
version>``, only when that folder is missing, under a file lock, then moved into place. The
source hash covers main.go, go.mod and go.sum, so an edit builds a new binary.

    python tests/argocd/gopherlua_vm.py                    # build if missing; print the path
    python tests/argocd/gopherlua_vm.py SCRIPT < obj.json  # run a health.lua
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODULE_DIR = HERE / "gopherlua"
BINARY = "argocd-lua-health"
GOPHER_LUA = "github.com/yuin/gopher-lua"
SOURCES = ("main.go", "go.mod", "go.sum")

sys.path.insert(0, str(HERE.parent / "controlplane"))  # tests/conftest.py does it too

import envtest  # noqa: E402


class LuaError(RuntimeError):
    """The script failed in gopher-lua (the message is ArgoCD's error text)."""


def source_hash() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        data = (MODULE_DIR / name).read_bytes()
        digest.update(f"{name} {len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()[:12]


def build_spec() -> envtest.GoBuild:
    version = envtest.module_version(MODULE_DIR / "go.mod", GOPHER_LUA)
    return envtest.GoBuild(
        key=f"{BINARY}-{source_hash()}",
        module_dir=MODULE_DIR,
        module=GOPHER_LUA,
        packages=(".",),
        outputs=(BINARY,),
        version_marker=f"gopher-lua {version}",
    )


def ensure_binary() -> Path:
    """The built program (built into the cache first when missing); ControlPlaneError if not."""
    return envtest.go_build(build_spec()) / BINARY


def run_health(
    binary: Path, script: Path, obj: dict[str, Any], *, open_libs: bool = False
) -> dict[str, str]:
    """Evaluate `script` on `obj` in gopher-lua as ArgoCD does; LuaError on a Lua error."""
    args = [str(binary), *(["--open-libs"] if open_libs else []), str(script)]
    result = subprocess.run(
        args, input=json.dumps(obj), capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode == 1:
        raise LuaError(result.stderr.strip())
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}: {result.stderr}")
    answer: dict[str, str] = json.loads(result.stdout)
    return answer


def main(argv: list[str]) -> int:
    binary = ensure_binary()
    if not argv:
        print(binary)
        return 0
    print(json.dumps(run_health(binary, Path(argv[0]), json.load(sys.stdin))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
