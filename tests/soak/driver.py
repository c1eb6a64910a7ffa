"""The soak: random operations and random faults from one seed, invariants checked every second.

    python tests/soak/driver.py --duration 3600 --objects 40 --seed 7 [--out DIR]
    make soak ARGS='--duration 3600 --objects 40 --seed 7'

Phases: start (control plane, simulator, two peered operator replicas, namespaces with
credentials Secrets of two Vast accounts) -> chaos for --duration seconds (an operation every
--op-interval, a fault every --fault-interval) -> quiet (faults cleared, every replica up; wait
until every object settled, then compare every status with the simulator) -> teardown (delete
everything; no finalizer may outlive --finalizer-bound) -> money and secrets. Writes
OUT/violations.jsonl (one line per violation, with seed and step), OUT/steps.jsonl (what was done
at each step), OUT/report.json and prints the summary table. Exit code 1 on any violation.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checker as chk
from chaos import Chaos
from checker import Checker, status_mismatches, stuck_finalizers, wait_settled
from env import CREATE_SETTLE, OPERATOR_CAP, POLL_INTERVAL, SoakEnv, dump_json, log
from invariants import DEAD_PHASES, Monitor, label_uid
from ledger import KINDS, Ledger
from ops import Ops
from peering import overlaps
from secrets_scan import scan_all

NAMESPACES = 3
PROCESS_FAULTS = ("kill_operator", "restart_sim", "restart_apiserver", "restart_etcd")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="soak", description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=3600, help="seconds of chaos")
    p.add_argument("--objects", type=int, default=40, help="live objects to aim for")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=None, help="results folder (default: a temp dir)")
    p.add_argument("--op-interval", type=float, default=2.0)
    p.add_argument("--fault-interval", type=float, default=12.0)
    p.add_argument("--quiet-timeout", type=float, default=240.0)
    # kopf peering's 60 s lifetime: a replica killed late may hold the others paused that long
    p.add_argument("--quiet-min", type=float, default=75.0, help="quiet lasts at least this")
    p.add_argument("--finalizer-bound", type=float, default=150.0)
    p.add_argument("--no-process-faults", action="store_true", help="only API-level faults")
    p.add_argument(
        "--every-process-fault",
        action="store_true",
        help="also kill the operator and restart vast-sim, kube-apiserver and etcd once each, "
        "spread over the run (the short mode's guarantee)",
    )
    return p.parse_args(argv)


def _step(path: Path, ledger: Ledger, kind: str, what: str) -> None:
    with path.open("a") as handle:
        handle.write(
            json.dumps(
                {"step": ledger.step, "t": round(time.time(), 3), "kind": kind, "what": what}
            )
            + "\n"
        )


def requests_summary(path: Path, keys: list[str]) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    total = with_bearer = 0
    if path.exists():
        for line in path.open(errors="replace"):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            total += 1
            statuses[str(entry.get("status"))] += 1
            auth = [v for k, v in entry.get("headers", []) if k.lower() == "authorization"]
            with_bearer += any(any(key in a for key in keys) for a in auth)
    return {
        "total": total,
        "by_status": dict(statuses),
        "with_key_in_authorization": with_bearer,
        "429": statuses.get("429", 0),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = args.out or Path(tempfile.mkdtemp(prefix="vast-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    for name in ("violations.jsonl", "steps.jsonl"):
        (out / name).unlink(missing_ok=True)
    rng = random.Random(args.seed)
    env = SoakEnv(out / "env", args.seed)
    ledger = Ledger()
    monitor = Monitor(
        ledger, args.seed, out / "violations.jsonl", OPERATOR_CAP, POLL_INTERVAL, CREATE_SETTLE
    )
    steps = out / "steps.jsonl"
    report: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "seed": args.seed,
        "duration": args.duration,
        "objects": args.objects,
        "out": str(out),
    }
    started = time.time()
    log(f"starting (seed {args.seed}, results in {out})")
    env.replicas_wanted = 2
    env.start()
    monitor.keys = env.keys
    checker = Checker(env, monitor)
    metrics: list[str] = []
    try:
        ops = Ops(env, ledger, rng, args.objects)
        chaos = Chaos(env, rng)
        for _ in range(NAMESPACES):
            ops.new_namespace()
        checker.start()
        end = time.time() + args.duration
        scheduled = [
            (time.time() + args.duration * (i + 1) / 5, name)
            for i, name in enumerate(PROCESS_FAULTS)
            if args.every_process_fault
        ]
        next_fault = time.time() + args.fault_interval
        next_metrics = time.time() + 60
        while time.time() < end:
            ledger.step += 1
            try:
                what = ops.random_op()
                if what:
                    _step(steps, ledger, "op", what)
            except Exception as exc:  # the API server may be restarting
                _step(steps, ledger, "op-error", f"{type(exc).__name__}: {exc}"[:300])
            for exited in env.restart_exited():
                log(f"step {ledger.step}: {exited}; started again")
                _step(steps, ledger, "exit", exited)
            if scheduled and time.time() >= scheduled[0][0]:
                _, name = scheduled.pop(0)
                fault = chaos.run(name)
                log(f"step {ledger.step}: {fault} (scheduled)")
                _step(steps, ledger, "fault", f"{fault} (scheduled)")
            if time.time() >= next_fault:
                next_fault = time.time() + rng.expovariate(1 / args.fault_interval)
                try:
                    fault = (
                        chaos.random_fault() if not args.no_process_faults else chaos.sim_fault()
                    )
                    if fault:
                        log(f"step {ledger.step}: {fault}")
                        _step(steps, ledger, "fault", fault)
                except Exception as exc:
                    _step(steps, ledger, "fault-error", f"{type(exc).__name__}: {exc}"[:300])
            if time.time() >= next_metrics:
                next_metrics = time.time() + 60
                metrics += [r.metrics() for r in env.replicas]
            time.sleep(rng.uniform(0.5, 1.5) * args.op_interval)
        report["chaos_seconds"] = round(time.time() - started, 1)
        # -- quiet ---------------------------------------------------------------------------------
        log("quiet: faults cleared, every replica up")
        chaos.quiet()
        report["credentials_restored"] = ops.restore_credentials()
        quiet_since = time.time()
        report["settled"] = wait_settled(env, args.quiet_timeout, at_least=args.quiet_min)
        problems = _quiet_status(env)
        for problem in problems:
            monitor.violate(time.time(), "status_mismatch", problem)
        report["quiet_seconds"] = round(time.time() - quiet_since, 1)
        metrics += [r.metrics() for r in env.replicas]
        report["accrued_at_quiet"] = accrued(env)
        # -- teardown ------------------------------------------------------------------------------
        log("teardown: deleting every object")
        report["stuck_finalizers"] = _teardown(env, ops, monitor, quiet_since, args.finalizer_bound)
        time.sleep(POLL_INTERVAL + 3)
        checker.stop()
        state = env.sim_state()
        left = [
            i
            for i in state["instances"]
            if i.get("phase") not in DEAD_PHASES
            and label_uid(i.get("label"))[0] is not None
            and not label_uid(i.get("label"))[1]
        ]
        objects = [o for p in KINDS for o in env.list_kind(p)]
        orphans = chk.in_gone_namespaces(objects, env.namespaces())
        report["in_gone_namespaces"] = [chk.where(o) for o in orphans]
        present = {o["metadata"]["uid"] for o in objects if o not in orphans}  # orphans: deleted
        for inst in left:
            if label_uid(inst.get("label"))[0] in present:
                continue  # its object is still there: counted once, as a stuck finalizer
            monitor.violate(
                time.time(),
                "leaked_after_teardown",
                f"instance:{inst['id']}",
                label=inst.get("label"),
            )
        report["left_after_teardown"] = [int(i["id"]) for i in left]
        events = env.events()
        report["secrets"] = scan_all(
            env.keys, [r.log_path for r in env.replicas], events, objects, metrics, env.request_log
        )
        for finding in report["secrets"]["findings"]:
            monitor.violate(time.time(), "secret_leak", finding)
        report["operations"] = dict(ops.counts)
        report["operations_total"] = sum(ops.counts.values())
        report["faults"] = dict(chaos.counts)
        report["restarts"] = {
            **env.restarts,
            "operator_starts": sum(r.starts for r in env.replicas),
            "operator_exits_on_their_own": [c for r in env.replicas for c in r.exits],
        }
        report["requests"] = requests_summary(env.request_log, env.keys)
        report["replicas_active_at_once"] = overlaps(
            {r.index: r.log_path for r in env.replicas},
            {r.index: r.kills for r in env.replicas},
            time.time(),
        )
        report["money"] = {k: round(v, 6) for k, v in asdict(monitor.money).items()}
        report["sim_bill"] = sim_bill(env, monitor.leaked_instances)
        report["leaked_instances"] = sorted(monitor.leaked_instances)
        report["duplicates"] = monitor.duplicates
        report["excused"] = monitor.excused
        report["checker"] = {
            "looks": monitor.ticks,
            "gaps": checker.gaps,
            "errors": checker.errors[:10],
        }
        report["steps"] = ledger.step
    finally:
        checker.halt.set()
        env.stop()
    report["violations"] = monitor.violations
    report["wall_seconds"] = round(time.time() - started, 1)
    dump_json(out / "report.json", report)
    return report


def accrued(env: SoakEnv) -> dict[str, Any]:
    """What the objects say they cost (status.accruedCost), against the simulator's bill for
    the same objects' labels, while they all still exist."""
    objects = env.list_kind("vastinstances")
    said = sum(float((o.get("status") or {}).get("accruedCost") or 0) for o in objects)
    uids = {o["metadata"]["uid"] for o in objects}
    assert env.sim is not None
    billed = sum(
        float(c["amount"])
        for c in env.sim.admin.bill()["charges"]
        if c["kind"] == "instance" and label_uid(c.get("label"))[0] in uids
    )
    return {
        "objects": len(objects),
        "status_accrued": round(said, 6),
        "sim_billed": round(billed, 6),
    }


def sim_bill(env: SoakEnv, leaked: set[int]) -> dict[str, Any]:
    """The simulator's own bill (vast_sim/billing.py) for the whole run: the total, the part
    for resources this cluster labelled, and the part for instances the checker called leaked."""
    assert env.sim is not None
    bill = env.sim.admin.bill()
    now = float(bill["now"])
    charges = bill["charges"]
    instances = [c for c in charges if c["kind"] == "instance"]
    ours = [c for c in instances if label_uid(c.get("label"))[0] is not None]
    return {
        "total": round(sum(float(c["amount"]) for c in charges), 6),
        "by_account": bill["by_account"],
        "labelled_instances": round(sum(float(c["amount"]) for c in ours), 6),
        "labelled_instance_hours": round(
            sum(((c.get("end") or now) - c["start"]) for c in ours) / 3600, 4
        ),
        "volumes": round(sum(float(c["amount"]) for c in charges if c["kind"] == "volume"), 6),
        "leaked": round(sum(float(c["amount"]) for c in instances if c["object_id"] in leaked), 6),
    }


def _quiet_status(env: SoakEnv) -> list[str]:
    """Status vs simulator, a few looks apart: a mismatch must persist to count."""
    problems: list[str] = []
    for _ in range(4):
        objects = [o for p in KINDS for o in env.list_kind(p)]
        problems = status_mismatches(objects, env.sim_state())
        if not problems:
            return []
        time.sleep(POLL_INTERVAL * 3)
    return problems


def _teardown(
    env: SoakEnv, ops: Ops, monitor: Monitor, quiet_since: float, bound: float
) -> list[str]:
    for ns in sorted(ops.namespaces):
        for plural in KINDS:
            ops._req("DELETE", f"/apis/vast.ai/v1alpha1/namespaces/{ns}/{plural}")
    for obj in ops.ledger.all():
        if obj.delete_requested is None:
            obj.delete_requested = time.time()
    deadline = time.time() + bound + 30
    stuck: list[str] = []
    while time.time() < deadline:
        stored = [o for p in KINDS for o in env.list_kind(p)]
        gone = chk.in_gone_namespaces(stored, env.namespaces())
        objects = [o for o in stored if o not in gone]
        if not objects:
            return []
        stuck = stuck_finalizers(objects, quiet_since, bound, time.time())
        if stuck:
            break
        time.sleep(2)
    for item in stuck:
        monitor.violate(time.time(), "stuck_finalizer", item)
    return stuck


def _windows(report: dict[str, Any]) -> str:
    windows = report.get("replicas_active_at_once") or []
    longest = max((w["seconds"] for w in windows), default=0)
    return f"{len(windows)} ({longest:.1f})"


def table(report: dict[str, Any]) -> str:
    money = report.get("money", {})
    restarts = report.get("restarts", {})
    faults = report.get("faults", {})
    rows = [
        ("command", report.get("command")),
        ("seed", report.get("seed")),
        ("chaos duration (s)", report.get("chaos_seconds")),
        ("operations", f"{report.get('operations_total')} {report.get('operations')}"),
        ("operator kills (SIGKILL)", faults.get("kill_operator", 0) + faults.get("failover", 0)),
        ("standby take-overs (active replica killed)", faults.get("failover", 0)),
        ("operator starts", restarts.get("operator_starts")),
        ("operator exits on their own (restarted)", restarts.get("operator_exits_on_their_own")),
        ("vast-sim restarts (state file)", restarts.get("vast-sim", 0)),
        ("kube-apiserver restarts", restarts.get("kube-apiserver", 0)),
        ("etcd restarts", restarts.get("etcd", 0)),
        ("faults by kind", {k: v for k, v in sorted(faults.items()) if ":" in k}),
        ("windows with two replicas active (longest, s)", _windows(report)),
        ("Vast requests", report.get("requests", {}).get("total")),
        ("429 answers", report.get("requests", {}).get("429")),
        ("invariant violations", len(report.get("violations", []))),
        (
            "broken while the operator could not act (no key for the account)",
            len(report.get("excused", [])),
        ),
        ("duplicates", report.get("duplicates")),
        ("leaked instances", len(report.get("leaked_instances", []))),
        ("leaked instance-hours", round(money.get("leaked_instance_seconds", 0) / 3600, 4)),
        ("leaked dollars", money.get("leaked")),
        (
            "bill (labelled instances, $): checker / simulator",
            f"{money.get('bill')} / {report.get('sim_bill', {}).get('labelled_instances')}",
        ),
        ("leaked dollars on the simulator's bill", report.get("sim_bill", {}).get("leaked")),
        ("instance-hours billed", round(money.get("instance_seconds", 0) / 3600, 3)),
        ("stuck finalizers", len(report.get("stuck_finalizers", []))),
        ("objects left in removed namespaces", len(report.get("in_gone_namespaces", []))),
        ("secrets found outside Authorization", len(report.get("secrets", {}).get("findings", []))),
        (
            "checker looks / gaps",
            f"{report.get('checker', {}).get('looks')} / {report.get('checker', {}).get('gaps')}",
        ),
    ]
    lines = ["| what | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    # A background run ignores SIGINT and dies on SIGTERM without cleanup: both end the run
    # through `finally`, which stops the operators, the simulator and the control plane.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    args = parse(argv)
    report = run(args)
    print(table(report))
    for violation in report["violations"]:
        print(json.dumps(violation))
    return 1 if report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
