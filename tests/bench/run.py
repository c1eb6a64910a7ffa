#!/usr/bin/env python3
"""Scaling benchmark of vast-operator (docs/benchmarks.md).

    python tests/bench/run.py                          # N=10,30 at Vast's real pacing
    python tests/bench/run.py --objects 10,100,300 --rate-limit-scale 0.1
    python tests/bench/run.py --quick                  # N=10, 20 s steady window
    python tests/bench/run.py --kubeconfig .dev/kubeconfig   # reuse `make cluster`

Starts a local control plane (unless --kubeconfig), the Vast simulator with its rate limits
enforced, and per scenario a fresh operator process; prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import targets
import vastbench

from vast_sim.testing import RunningSim, SimAdmin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests/bench/run.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--objects",
        default="10,30",
        help="scenario sizes, comma separated (default 10,30; --quick: 10)",
    )
    parser.add_argument(
        "--out",
        default=str(vastbench.ROOT / "bench" / "results" / "latest.json"),
        help="JSON result (operator logs go to <out stem>-logs/)",
    )
    parser.add_argument("--quick", action="store_true", help="N=10 and a 20 s steady window")
    parser.add_argument("--poll-interval", type=float, default=10.0)
    parser.add_argument(
        "--rate-limit-scale",
        type=float,
        default=1.0,
        help="multiplies Vast's per-route intervals in the operator AND the simulator's "
        "enforcement (1 = production; 0.1 = the same shape ten times faster)",
    )
    parser.add_argument(
        "--requests-per-second",
        type=float,
        default=None,
        help="operator's global ceiling (default 2 / rate-limit-scale)",
    )
    parser.add_argument("--boot-seconds", type=float, default=2.0)
    parser.add_argument("--steady-seconds", type=float, default=None, help="default 60 (quick 20)")
    parser.add_argument(
        "--ramp-timeout",
        type=float,
        default=None,
        help="seconds to wait for all N to run (default from N and the pacing); the scenario "
        "then records how far it got and deletes everything",
    )
    parser.add_argument(
        "--same-query",
        action="store_true",
        help="every object asks for the same GPU (worst case for offer contention); "
        "default: a mix of five GPU queries",
    )
    parser.add_argument(
        "--naive",
        action="store_true",
        help="after the steady window, observe the same objects the naive way (one GET per "
        "object per poll, the operator's benchmark-only --bench-observe-by-id) and report ratios",
    )
    parser.add_argument(
        "--targets",
        action="store_true",
        help="run every scenario of the targets table (tests/bench/targets.py PLAN, each with "
        "its own scale) and print the table; --objects and --rate-limit-scale are then ignored",
    )
    parser.add_argument("--num-machines", type=int, default=None, help="default max(400, 3*N)")
    parser.add_argument(
        "--kubeconfig", type=Path, default=None, help="reuse this cluster (admin kubeconfig)"
    )
    parser.add_argument("--sim-url", default=None, help="reuse a running vast-sim (its admin API)")
    parser.add_argument("--sim-api-key", default=None, help="the reused simulator's API key")
    args = parser.parse_args(argv)

    objects = (
        [10] if args.quick and args.objects == "10,30" else vastbench.parse_objects(args.objects)
    )
    steady = (
        args.steady_seconds if args.steady_seconds is not None else (20.0 if args.quick else 60.0)
    )
    params = vastbench.Params(
        objects=objects,
        poll_interval=args.poll_interval,
        rate_limit_scale=args.rate_limit_scale,
        requests_per_second=args.requests_per_second,
        boot_seconds=args.boot_seconds,
        steady_seconds=steady,
        num_machines=args.num_machines,
        ramp_timeout_seconds=args.ramp_timeout,
        same_query=args.same_query,
        quick=args.quick,
        naive=args.naive,
        plan=[dict(entry) for entry in targets.PLAN] if args.targets else None,
    )
    sim = None
    if args.sim_url:
        if not args.sim_api_key:
            parser.error("--sim-url needs --sim-api-key")
        sim = RunningSim(
            url=args.sim_url.rstrip("/"), api_key=args.sim_api_key, admin=SimAdmin(args.sim_url)
        )
    result = vastbench.run(params, Path(args.out), kubeconfig=args.kubeconfig, sim=sim)
    print(vastbench.table(result))
    if result.get("targets"):
        print()
        print(targets.table(result["targets"]))
    print(f"\nwrote {Path(args.out).resolve()} ({result['total_seconds']:.0f}s)")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
