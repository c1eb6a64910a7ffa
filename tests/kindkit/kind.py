#!/usr/bin/env python3
"""`make kind` and `make kind-down`: a kind cluster running the operator as a Pod (docs/kind.md).

    python tests/kindkit/kind.py up [--state-dir .dev]     # cluster, chart, examples
    python tests/kindkit/kind.py down                       # delete the cluster
    python tests/kindkit/kind.py node-image [--force]       # only (re)build the node image
    python tests/kindkit/kind.py config                     # the kind config for this machine

Where Docker or kind cannot run, it prints why in one sentence and exits 1 (the details go to
<state-dir>/kind/error.log).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cluster
import engine
import nodeimage
from engine import KindError, envtest, imagekit

NAME = "vast-operator"


def _fail(state: Path, exc: BaseException) -> int:
    state.mkdir(parents=True, exist_ok=True)
    (state / "error.log").write_text("".join(traceback.format_exception(exc)))
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    print(f"make kind: {first.rstrip('.')}. (details: {state / 'error.log'})", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "node-image", "config"])
    parser.add_argument("--state-dir", default=".dev", type=Path)
    parser.add_argument("--name", default=NAME)
    parser.add_argument("--force", action="store_true", help="node-image: rebuild")
    args = parser.parse_args(argv)
    state = args.state_dir / "kind"
    errors = (KindError, imagekit.ImageError, envtest.ControlPlaneError, OSError)
    try:
        if args.command == "down":
            deleted = cluster.down(args.name)
            print(f"kind cluster {args.name} {'deleted' if deleted else 'not found'}")
            return 0
        if args.command == "config":
            print(cluster.kind_config(args.name, nodeimage.node_image_ref(), engine.detect()))
            return 0
        if args.command == "node-image":
            work = engine.detect()
            tools = engine.ensure_tools()
            engine.ensure_engine(work, tools)
            ref, rebuilt, timings = nodeimage.ensure_node_image(tools, force=args.force)
            print(json.dumps({"image": ref, "rebuilt": rebuilt, "timings": timings}, indent=2))
            return 0
        kubeconfig = (state / "kubeconfig").resolve()
        up = cluster.up(args.name, kubeconfig)
    except errors as exc:
        return _fail(state, exc)
    print(up.kubectl("get", "pods", "-n", cluster.RELEASE_NS, "-o", "wide"))
    print(up.kubectl("get", "vast", "-n", cluster.EXAMPLES_NS, "-o", "wide"))
    print(f"timings (s): {json.dumps(up.timings)}")
    print(
        f"The operator runs as a Pod in kind cluster {args.name}.\n"
        f"  export KUBECONFIG={kubeconfig}\n"
        f"  {up.client.kubectl} get vast -n {cluster.EXAMPLES_NS}\n"
        f"  {up.client.kubectl} logs -n {cluster.RELEASE_NS} deploy/{cluster.RELEASE}\n"
        "Delete it with `make kind-down`."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
