"""The scaling benchmark of vast-operator: N VastInstances at once, against the simulator.

`run.py` is the command line; this module holds the pieces so that a test can drive a quick run
against the session's control plane (see test_bench_smoke.py and docs/benchmarks.md).

One scenario, for one N:

1. a fresh namespace and a fresh operator process (so peak RSS and CPU belong to this N), with
   production pacing: Vast's per-route minimum intervals (`--rate-limit-scale`), the global
   requests-per-second ceiling, a realistic `--poll-interval`;
2. create: N VastInstances applied with one `kubectl apply --server-side`; a watch on the
   namespace records when each object first reports `phase: Running`; the simulator's request
   counters give the Vast calls of the ramp;
3. steady state: a window with everything Running; Vast calls per minute by route, and how many
   pages each listing took (a listing is a burst of page calls on the simulator's counter);
4. delete: `kubectl delete --all`, until the watch has seen every object go; Vast calls of the
   teardown; then the simulator must hold no instance at all.

Timings come from a Kubernetes watch (event receipt time, monotonic clock), never from the
operator's own logs. Nothing here asserts a timing: numbers are reported, not judged.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
import json
import math
import os
import platform
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from dataclasses import replace as dc_replace
from pathlib import Path
from typing import Any

import httpx
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for extra in (ROOT / "tests" / "controlplane", ROOT / "tests" / "e2e"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import targets  # noqa: E402

import envtest  # noqa: E402
from harness import OperatorProcess, instance_manifest  # noqa: E402
from vast_sim.metering import DEFAULT_INTERVALS  # noqa: E402
from vast_sim.testing import RunningSim, SimAdmin, start_sim_subprocess  # noqa: E402

GROUP_PATH = "/apis/vast.ai/v1alpha1"
PLURAL = "vastinstances"
PAGE_SIZE = 25  # GET /api/v1/instances/ page size the operator uses (vast.client.MAX_PAGE_SIZE)
LIST_ROUTE = "GET /api/v1/instances/"
# The operator also reads each account's credit about once a minute (--credit-interval).
CREDIT_ROUTE = "GET /api/v0/users/current/"
STEADY_ROUTES = frozenset({LIST_ROUTE, CREDIT_ROUTE})
OPERATOR_NS = "vast-operator-bench"
RELEASE = "bench"
# Vast's documented sustained ceiling, which the operator uses by default (config.py).
PRODUCTION_RPS = 2.0

# The market mix: several GPU models so the objects do not all fight over the same offers.
QUERY_MIX: tuple[dict[str, Any], ...] = (
    {"gpuName": "RTX 4090", "numGpus": 1},
    {"gpuName": "RTX 3090", "numGpus": 1},
    {"gpuNames": ["RTX A6000", "L40S", "RTX 6000Ada"], "numGpus": 1},
    {"gpuNames": ["A100 SXM4", "A100 PCIE", "H100 SXM", "H100 PCIE"], "numGpus": 1},
    {"gpuName": "RTX 5090", "numGpus": 1},
)
# The worst case for offer contention: every object wants the same GPU.
SAME_QUERY: tuple[dict[str, Any], ...] = ({"gpuName": "RTX 4090", "numGpus": 1},)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Parameters and results
# ---------------------------------------------------------------------------------------------


@dataclass
class Params:
    objects: list[int] = field(default_factory=lambda: [10, 30])
    poll_interval: float = 10.0
    rate_limit_scale: float = 1.0  # 1 = Vast's real intervals, in the operator and the simulator
    requests_per_second: float | None = None  # None: PRODUCTION_RPS / rate_limit_scale
    boot_seconds: float = 2.0
    steady_seconds: float = 60.0
    num_machines: int | None = None  # None: enough for the biggest scenario
    sample_interval: float = 1.0
    ramp_timeout_seconds: float | None = None  # None: from N and the pacing (ramp_timeout)
    same_query: bool = False  # every object asks for the same GPU (SAME_QUERY)
    quick: bool = False
    # After the steady window, the same objects observed the naive way (one GET per object per
    # poll, the operator's benchmark-only --bench-observe-by-id) for a window of the same length.
    naive: bool = False
    # Scenarios with their own settings, in one run (targets.PLAN); overrides `objects`.
    plan: list[dict[str, Any]] | None = None

    @property
    def rps(self) -> float:
        if self.requests_per_second is not None:
            return self.requests_per_second
        return PRODUCTION_RPS / self.rate_limit_scale if self.rate_limit_scale > 0 else 200.0

    @property
    def machines(self) -> int:
        sizes = [int(e["n"]) for e in self.plan] if self.plan else self.objects
        return self.num_machines or max(400, 3 * max(sizes))

    @property
    def queries(self) -> tuple[dict[str, Any], ...]:
        return SAME_QUERY if self.same_query else QUERY_MIX

    @property
    def backoff_base(self) -> float:
        # The operator's first 429/5xx retry delay is 1 s against intervals of 1-6 s; keep
        # that proportion when the pacing is compressed.
        return 1.0 if self.rate_limit_scale >= 1 else max(0.05, self.rate_limit_scale)

    @property
    def listing_coalesce(self) -> float:
        # Listings objects ask for start at most one per 2 s, against a 4.5 s rent interval;
        # keep that proportion too, or a compressed ramp waits ten times longer, in rent
        # intervals, to see each boot.
        return 2.0 if self.rate_limit_scale >= 1 else 2.0 * self.rate_limit_scale

    def ramp_timeout(self, n: int) -> float:
        if self.ramp_timeout_seconds is not None:
            return self.ramp_timeout_seconds
        # Offer search is paced at one per 6 s (burst 3) and rents at one per 4.5 s, so the
        # ramp is about 6 s x N at scale 1; allow twice that plus slack for a loaded machine.
        return 180.0 + n * (12.0 * self.rate_limit_scale + 1.0)

    def delete_timeout(self, n: int) -> float:
        return 180.0 + n * (6.0 * self.rate_limit_scale + 1.0)


@dataclass
class Scenario:
    n: int
    namespace: str
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    apply_seconds: float = 0.0
    create: dict[str, Any] = field(default_factory=dict)
    steady: dict[str, Any] = field(default_factory=dict)
    delete: dict[str, Any] = field(default_factory=dict)
    operator: dict[str, Any] = field(default_factory=dict)
    log_path: str = ""


# ---------------------------------------------------------------------------------------------
# A small Kubernetes client (list + watch) from a kubeconfig
# ---------------------------------------------------------------------------------------------


class KubeHttp:
    """httpx client for one kubeconfig (client certificate or bearer token)."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(Path(kubeconfig).read_text())
        ctx_name = config.get("current-context")
        ctx = next(c["context"] for c in config["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == ctx["user"])
        self._tmp = Path(tempfile.mkdtemp(prefix="bench-kube-"))
        ssl_ctx = ssl.create_default_context()
        if cluster.get("insecure-skip-tls-verify"):
            ssl_ctx.check_hostname = False
            ssl_ctx.verify_mode = ssl.CERT_NONE
        elif cluster.get("certificate-authority-data"):
            ssl_ctx.load_verify_locations(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
            )
        elif cluster.get("certificate-authority"):
            ssl_ctx.load_verify_locations(cafile=cluster["certificate-authority"])
        headers = {}
        cert = self._material(user, "client-certificate")
        key = self._material(user, "client-key")
        if cert and key:
            ssl_ctx.load_cert_chain(cert, key)
        if user.get("token"):
            headers["Authorization"] = f"Bearer {user['token']}"
        self.server = cluster["server"].rstrip("/")
        self.http = httpx.Client(
            base_url=self.server,
            verify=ssl_ctx,
            headers=headers,
            timeout=httpx.Timeout(30.0, connect=10.0),
        )

    def _material(self, user: Mapping[str, Any], name: str) -> str | None:
        if user.get(f"{name}-data"):
            path = self._tmp / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.b64decode(user[f"{name}-data"]))
            return str(path)
        value = user.get(name)
        return str(value) if value else None

    def close(self) -> None:
        self.http.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


@dataclass
class ObjectTrack:
    name: str
    created: float | None = None  # first event that showed the object (it exists)
    first_status: float | None = None  # first event that carried any status.phase
    first_running: float | None = None
    deleted_at: float | None = None
    phase: str | None = None
    modified: int = 0


class Watcher:
    """Watches the VastInstances of one namespace; records when each one first ran and left.

    Times are `time.monotonic()` at the moment the event was received.
    """

    def __init__(self, kube: KubeHttp, namespace: str) -> None:
        self.kube = kube
        self.path = f"{GROUP_PATH}/namespaces/{namespace}/{PLURAL}"
        self.objects: dict[str, ObjectTrack] = {}
        self.uids: set[str] = set()  # every object ever seen: their Vast labels carry these
        self.phase_changes: Counter[str] = Counter()
        self.events = 0
        self.modified_events = 0
        # Which fields the MODIFIED events changed ("status.phase", "metadata.annotations", ...)
        self.changed_fields: Counter[str] = Counter()
        self._last: dict[str, Mapping[str, Any]] = {}
        self.relists = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-watch", daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the benchmark's watch on VastInstances did not start")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # an operator that never came up: never started
            self._thread.join(15)

    def _see(self, kind: str, obj: Mapping[str, Any], now: float) -> None:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name"))
        if meta.get("uid"):
            self.uids.add(str(meta["uid"]))
        phase = (obj.get("status") or {}).get("phase")
        with self._lock:
            track = self.objects.get(name)
            if track is None:
                if kind == "DELETED":
                    return
                track = self.objects[name] = ObjectTrack(name, created=now)
            if kind == "DELETED":
                if track.deleted_at is None:
                    track.deleted_at = now
                return
            if kind == "MODIFIED":
                track.modified += 1
                self.modified_events += 1
                self.changed_fields.update(_changed_fields(self._last.get(name) or {}, obj))
            self._last[name] = obj
            if phase is not None and track.first_status is None:
                track.first_status = now
            if phase != track.phase:
                self.phase_changes[f"{track.phase}->{phase}"] += 1
                track.phase = phase
            if phase == "Running" and track.first_running is None:
                track.first_running = now

    def changed_fields_since(self, before: Counter[str]) -> dict[str, int]:
        with self._lock:
            now = Counter(self.changed_fields)
        now.subtract(before)
        return {k: v for k, v in now.most_common() if v}

    def _list(self) -> str:
        response = self.kube.http.get(self.path)
        response.raise_for_status()
        body = response.json()
        now = time.monotonic()
        present = set()
        for item in body.get("items") or []:
            present.add(item["metadata"]["name"])
            self._see("ADDED", item, now)
        with self._lock:
            for name, track in self.objects.items():
                if name not in present and track.deleted_at is None:
                    track.deleted_at = now
        self.relists += 1
        return str(body["metadata"]["resourceVersion"])

    def _run(self) -> None:
        rv: str | None = None
        while not self._stop.is_set():
            try:
                if rv is None:
                    rv = self._list()
                    self._ready.set()
                params = {
                    "watch": "1",
                    "resourceVersion": rv,
                    "allowWatchBookmarks": "true",
                    "timeoutSeconds": "5",
                }
                timeout = httpx.Timeout(30.0, connect=10.0, read=20.0)
                with self.kube.http.stream(
                    "GET", self.path, params=params, timeout=timeout
                ) as response:
                    if response.status_code == 410:
                        rv = None
                        continue
                    response.raise_for_status()
                    for line in response.iter_lines():
                        if not line:
                            continue
                        event = json.loads(line)
                        kind, obj = event.get("type"), event.get("object") or {}
                        if kind == "ERROR":
                            rv = None  # expired resourceVersion and the like: list again
                            break
                        rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                        if kind in ("ADDED", "MODIFIED", "DELETED"):
                            self.events += 1
                            self._see(kind, obj, time.monotonic())
                        if self._stop.is_set():
                            break
            except (httpx.HTTPError, json.JSONDecodeError, KeyError) as exc:
                log(f"watch interrupted ({exc.__class__.__name__}: {exc}); listing again")
                rv = None
                self._stop.wait(0.5)

    # --- views --------------------------------------------------------------------------------
    def tracks(self) -> list[ObjectTrack]:
        with self._lock:
            return [ObjectTrack(**asdict(t)) for t in self.objects.values()]

    def running(self) -> int:
        with self._lock:
            return sum(1 for t in self.objects.values() if t.phase == "Running")

    def present(self) -> int:
        with self._lock:
            return sum(1 for t in self.objects.values() if t.deleted_at is None)

    def phases(self) -> dict[str, int]:
        with self._lock:
            return dict(
                Counter(str(t.phase) for t in self.objects.values() if t.deleted_at is None)
            )


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Second-level keys of status, metadata.annotations and spec that differ."""
    fields = []
    for section in ("spec", "status"):
        a, b = old.get(section) or {}, new.get(section) or {}
        fields += [f"{section}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    a = (old.get("metadata") or {}).get("annotations") or {}
    b = (new.get("metadata") or {}).get("annotations") or {}
    fields += [f"annotations.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    for key in ("finalizers", "deletionTimestamp", "labels"):
        if (old.get("metadata") or {}).get(key) != (new.get("metadata") or {}).get(key):
            fields.append(f"metadata.{key}")
    return fields or ["(nothing visible)"]


# ---------------------------------------------------------------------------------------------
# The operator process: metrics, health probe, /proc
# ---------------------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_stats(pid: int) -> dict[str, float]:
    """Peak and current RSS (MB) and CPU seconds of one process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    values = {}
    for key in ("VmHWM", "VmRSS"):
        match = re.search(rf"^{key}:\s+(\d+)\s+kB", status, re.MULTILINE)
        values[key] = int(match.group(1)) / 1024.0 if match else float("nan")
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    return {"peak_rss_mb": values["VmHWM"], "rss_mb": values["VmRSS"], "cpu_seconds": cpu}


def parse_metrics(text: str) -> dict[str, Any]:
    """The operator's Prometheus text: API requests by (method, route, outcome), limiter waits."""
    from prometheus_client.parser import text_string_to_metric_families

    requests: dict[str, float] = {}
    waits = wait_seconds = 0.0
    reconciles = errors = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "vast_operator_vast_api_requests_total":
                lab = sample.labels
                route = str(lab.get("route"))
                if not route.startswith(f"{lab.get('method')} "):
                    route = f"{lab.get('method')} {route}"
                key = f"{route}|{lab.get('outcome')}"
                requests[key] = requests.get(key, 0.0) + sample.value
            elif sample.name == "vast_operator_rate_limit_waits":
                waits = sample.value
            elif sample.name == "vast_operator_rate_limit_wait_seconds":
                wait_seconds = sample.value
            elif sample.name == "vast_operator_reconciles_total":
                reconciles += sample.value
            elif sample.name == "vast_operator_reconcile_errors_total":
                errors += sample.value
    return {
        "requests": requests,
        "rate_limit_waits": waits,
        "rate_limit_wait_seconds": wait_seconds,
        "reconciles": reconciles,
        "reconcile_errors": errors,
    }


def diff_counts(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, float]:
    keys = set(after) | set(before)
    out = {k: after.get(k, 0) - before.get(k, 0) for k in keys}
    return {k: v for k, v in sorted(out.items()) if v}


class BenchOperator:
    """The operator under test: harness.OperatorProcess with production flags and probes."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        sim: RunningSim,
        namespace: str,
        log_path: Path,
        params: Params,
        naive: bool = False,
    ) -> None:
        self.metrics_port, self.liveness_port = envtest.free_ports(2)
        extra = [
            "--metrics-port",
            str(self.metrics_port),
            "--liveness-port",
            str(self.liveness_port),
            "--poll-interval",
            f"{params.poll_interval:g}",
            "--rate-limit-scale",
            f"{params.rate_limit_scale:g}",
            "--requests-per-second",
            f"{params.rps:g}",
            # The harness shortens these for tests; the benchmark runs the defaults.
            "--vast-timeout",
            "30",
            "--backoff-base",
            f"{params.backoff_base:g}",
            "--listing-coalesce",
            f"{params.listing_coalesce:g}",
        ]
        if naive:
            extra.append("--bench-observe-by-id")  # benchmark only: the naive observation
        self.process = OperatorProcess(
            kubeconfig=kubeconfig,
            vast_url=sim.url,
            api_key=sim.api_key,
            namespace=namespace,
            log_path=log_path,
            extra_args=extra,
        )
        self.argv_flags = extra
        self.http = httpx.Client(timeout=5.0)

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid

    def start(self, timeout: float = 60.0) -> None:
        self.process.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.alive:
                raise RuntimeError(f"operator exited at start:\n{self.process.logs()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get(self._live_url).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(
            f"operator not live after {timeout:.0f}s:\n{self.process.logs()[-4000:]}"
        )

    @property
    def _live_url(self) -> str:
        return f"http://127.0.0.1:{self.liveness_port}/healthz"

    def metrics(self) -> dict[str, Any]:
        text = self.http.get(f"http://127.0.0.1:{self.metrics_port}/metrics").text
        return parse_metrics(text)

    def stats(self) -> dict[str, float]:
        return proc_stats(self.pid)

    def stop(self) -> None:
        self.http.close()
        self.process.stop()

    def log_summary(self) -> dict[str, int]:
        text = self.process.logs()
        return {
            "errors": len(re.findall(r" ERROR ", text)),
            "warnings": len(re.findall(r" WARNING ", text)),
            "tracebacks": text.count("Traceback (most recent call last)"),
        }


# ---------------------------------------------------------------------------------------------
# Environment: control plane, CRDs, the chart's ServiceAccount, the simulator
# ---------------------------------------------------------------------------------------------


@dataclass
class Environment:
    cluster: envtest.Cluster
    operator_kubeconfig: Path
    sim: RunningSim
    kube: KubeHttp
    work_dir: Path


def prepare_cluster(cluster: envtest.Cluster) -> Path:
    """CRDs and the chart's RBAC; returns the chart ServiceAccount's kubeconfig."""
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "deploy" / "crds"))
    for plural in ("vastinstances", "vastvolumes", "vastendpoints"):
        cluster.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", f"crd/{plural}.vast.ai"
        )
    # Long enough for the longest run (the token is checked at every request).
    return cluster.chart_rbac_kubeconfig(OPERATOR_NS, RELEASE, expiration_seconds=6 * 3600)


def wait_for_crd_storage(kube: KubeHttp, timeout: float = 60.0) -> None:
    """A freshly established CRD answers 429 "storage is (re)initializing" for a moment."""
    deadline = time.monotonic() + timeout
    while True:
        status = kube.http.get(f"{GROUP_PATH}/{PLURAL}", params={"limit": "1"}).status_code
        if status == 200 or time.monotonic() > deadline:
            return
        time.sleep(0.5)


def configure_sim(admin: SimAdmin, params: Params) -> None:
    """Vast's per-route minimum intervals, times the scale, enforced with 429s."""
    scaled = {
        route: seconds * params.rate_limit_scale for route, seconds in DEFAULT_INTERVALS.items()
    }
    admin.config(boot_seconds=params.boot_seconds, enforce_rate_limits=True, rate_limits=scaled)


def start_sim(params: Params) -> RunningSim:
    sim = start_sim_subprocess(
        api_key="bench-" + secrets.token_hex(12),
        boot_seconds=params.boot_seconds,
        enforce_rate_limits=True,
        num_machines=params.machines,
        # Vast publishes no daily search quota; the simulator's default guess (1000) is below
        # what a 1000-object ramp may search. Everything else stays strict.
        search_quota=1_000_000,
    )
    configure_sim(sim.admin, params)
    return sim


@contextlib.contextmanager
def environment(
    params: Params,
    *,
    kubeconfig: Path | None = None,
    cluster: envtest.Cluster | None = None,
    sim: RunningSim | None = None,
    work_dir: Path | None = None,
) -> Iterator[Environment]:
    """Everything a scenario needs; starts (and stops) what was not given."""
    stack = contextlib.ExitStack()
    with stack:
        if work_dir is None:
            work_dir = Path(tempfile.mkdtemp(prefix="vast-bench-"))
            stack.callback(shutil.rmtree, work_dir, True)
        work_dir.mkdir(parents=True, exist_ok=True)
        if cluster is None:
            tools = envtest.ensure_client_tools()
            if kubeconfig is not None:
                cluster = envtest.Cluster(kubeconfig, tools, work_dir / "cluster")
            else:
                log("starting a local control plane (etcd + kube-apiserver)")
                plane = envtest.ControlPlane(work_dir / "state", envtest.ensure_binaries())
                plane.start()
                stack.callback(plane.stop)
                cluster = envtest.Cluster(plane.kubeconfig, tools, work_dir / "cluster", plane)
        operator_kubeconfig = prepare_cluster(cluster)
        if sim is None:
            log(f"starting vast-sim ({params.machines} machines, rate limits enforced)")
            sim = start_sim(params)
            stack.callback(sim.stop)
        else:
            configure_sim(sim.admin, params)
        kube = KubeHttp(cluster.kubeconfig)
        stack.callback(kube.close)
        wait_for_crd_storage(kube)
        yield Environment(cluster, operator_kubeconfig, sim, kube, work_dir)


# ---------------------------------------------------------------------------------------------
# One scenario
# ---------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def manifests(n: int, queries: Sequence[Mapping[str, Any]] = QUERY_MIX) -> list[dict[str, Any]]:
    docs = []
    for i in range(n):
        doc = instance_manifest(
            f"bench-{i:04d}",
            offer={"query": dict(queries[i % len(queries)])},
            placement={"bootTimeout": "10m", "maxAttempts": 3},
        )
        doc["metadata"]["labels"] = {"bench.vast.ai/run": "true"}
        docs.append(doc)
    return docs


def sim_routes(admin: SimAdmin) -> dict[str, float]:
    return {k: float(v) for k, v in admin.counters()["routes"].items()}


def wait_until(
    what: str,
    probe: Callable[[], bool],
    timeout: float,
    progress: Callable[[], str] | None = None,
    every: float = 1.0,
) -> bool:
    deadline = time.monotonic() + timeout
    last_note = time.monotonic()
    while time.monotonic() < deadline:
        if probe():
            return True
        if progress is not None and time.monotonic() - last_note >= 15:
            log(f"  waiting for {what}: {progress()}")
            last_note = time.monotonic()
        time.sleep(every)
    return probe()


def rate_limited(requests: Mapping[str, float]) -> int:
    return int(sum(v for k, v in requests.items() if k.endswith("|rate_limited")))


def rate_limited_by_route(requests: Mapping[str, float]) -> dict[str, int]:
    return {k.split("|")[0]: int(v) for k, v in requests.items() if k.endswith("|rate_limited")}


def sim_instances(admin: SimAdmin, uids: set[str] | None = None) -> list[Any]:
    """Instances in the simulator; with `uids`, only those labelled for these objects."""
    instances = admin.state().get("instances") or []
    rows = list(instances.values() if isinstance(instances, dict) else instances)
    # A destroyed instance unloads for a while (still listed, billing nothing): not left over.
    rows = [row for row in rows if row.get("phase") != "unloading"]
    if uids is None:
        return rows
    labels = {f"k8s-vast-operator:{uid}" for uid in uids}
    return [row for row in rows if row.get("label") in labels]


def run_scenario(env: Environment, params: Params, n: int, logs_dir: Path) -> Scenario:
    cluster, admin = env.cluster, env.sim.admin
    namespace = f"bench-n{n}-{secrets.token_hex(3)}"
    scenario = Scenario(n=n, namespace=namespace)
    # Scenarios of one run differ by N, query mix and scale: each keeps its own log.
    tag = f"{'-same' if params.same_query else ''}-scale{params.rate_limit_scale:g}"
    log_path = logs_dir / f"operator-n{n}{tag}.log"
    log_path.unlink(missing_ok=True)
    scenario.log_path = str(log_path)
    # A reused simulator may hold other people's instances; ours are found by label.
    scenario.operator["sim_instances_before"] = len(sim_instances(admin))
    cluster.apply_yaml({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    op = BenchOperator(
        kubeconfig=env.operator_kubeconfig,
        sim=env.sim,
        namespace=namespace,
        log_path=log_path,
        params=params,
    )
    watcher = Watcher(env.kube, namespace)
    try:
        op.start()
        watcher.start()
        time.sleep(1.0)
        _create(scenario, env, params, n, op, watcher)
        if scenario.create.get("all_running"):
            _steady(scenario, env, params, n, op, watcher)
            if params.naive:
                op = _naive(scenario, env, params, n, op, watcher, logs_dir)
        _delete(scenario, env, params, n, op, watcher)
        stats = op.stats()
        ramp_stats = scenario.operator.pop("ramp_operator", None)
        if ramp_stats:  # the operator of the ramp and steady window was replaced (naive)
            scenario.operator["ramp_peak_rss_mb"] = round(ramp_stats["peak_rss_mb"], 1)
            scenario.operator["delete_peak_rss_mb"] = round(stats["peak_rss_mb"], 1)
            stats["peak_rss_mb"] = max(stats["peak_rss_mb"], ramp_stats["peak_rss_mb"])
            stats["cpu_seconds"] += ramp_stats["cpu_seconds"]
        scenario.operator.update(stats, logs=op.log_summary(), flags=op.argv_flags)
        scenario.operator["reconcile_errors"] = op.metrics()["reconcile_errors"]
    except Exception as exc:  # report it with the scenario; the cleanup below still runs
        scenario.problems.append(f"{exc.__class__.__name__}: {exc}")
        log(f"scenario N={n} broke: {exc}")
    finally:
        watcher.stop()
        _cleanup(env, namespace, op, scenario, watcher.uids)
    scenario.ok = not scenario.problems
    return scenario


def _create(
    scenario: Scenario, env: Environment, params: Params, n: int, op: BenchOperator, w: Watcher
) -> None:
    admin = env.sim.admin
    routes0, metrics0, stats0 = sim_routes(admin), op.metrics(), op.stats()
    text = "\n---\n".join(json.dumps(doc) for doc in manifests(n, params.queries))
    log(f"N={n}: applying {n} VastInstances")
    t0 = time.monotonic()
    env.cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=bench",
        "-n",
        scenario.namespace,
        "-f",
        "-",
        input=text,
        timeout=600,
    )
    scenario.apply_seconds = round(time.monotonic() - t0, 2)
    # Progress curve: how many objects run, once per sample interval.
    curve: list[tuple[float, int]] = []

    def all_running() -> bool:
        running = w.running()
        if not curve or curve[-1][1] != running:
            curve.append((round(time.monotonic() - t0, 1), running))
        return running >= n and sum(1 for t in w.tracks() if t.first_running) >= n

    done = wait_until(
        f"{n} objects Running",
        all_running,
        params.ramp_timeout(n),
        progress=lambda: f"{w.running()}/{n} Running, phases {w.phases()}",
        every=params.sample_interval,
    )
    ramp = time.monotonic() - t0
    routes1, metrics1, stats1 = sim_routes(admin), op.metrics(), op.stats()
    tracks = w.tracks()
    latencies = [t.first_running - t0 for t in tracks if t.first_running is not None]
    first_status = [t.first_status - t0 for t in tracks if t.first_status is not None]
    # From the moment each object existed (its first watch event) to its first status.phase.
    own_status = [
        t.first_status - t.created
        for t in tracks
        if t.first_status is not None and t.created is not None
    ]
    create_floor = targets.create_floor(n, params.rate_limit_scale, params.boot_seconds)
    calls = diff_counts(routes1, routes0)
    total = sum(calls.values())
    requests = diff_counts(metrics1["requests"], metrics0["requests"])
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(curve)]
    scenario.create = {
        "all_running": done,
        "running": len(latencies),
        "seconds_to_all_running": round(ramp, 2) if done else None,
        "latency_p50_s": _r(percentile(latencies, 50)),
        "latency_p95_s": _r(percentile(latencies, 95)),
        "latency_max_s": _r(max(latencies) if latencies else None),
        "latency_min_s": _r(min(latencies) if latencies else None),
        "vast_calls_total": int(total),
        "vast_calls_per_object": round(total / n, 2),
        "vast_calls_by_route": calls,
        "operator_requests_by_outcome": requests,
        "http_429": rate_limited(requests),
        "rate_limit_waits": metrics1["rate_limit_waits"] - metrics0["rate_limit_waits"],
        "rate_limit_wait_seconds": round(
            metrics1["rate_limit_wait_seconds"] - metrics0["rate_limit_wait_seconds"], 1
        ),
        "longest_gap_between_runs_s": _r(max(gaps) if gaps else None),
        # How long objects showed no status at all (queued behind the offer-search pacing).
        "first_status_p50_s": _r(percentile(first_status, 50)),
        "first_status_max_s": _r(max(first_status) if first_status else None),
        "first_status_p95_s": _r(percentile(first_status, 95)),
        "first_status_since_created_p50_s": _r(percentile(own_status, 50), 2),
        "first_status_since_created_p95_s": _r(percentile(own_status, 95), 2),
        "first_status_since_created_max_s": _r(max(own_status) if own_status else None, 2),
        # What Vast's documented intervals allow at best: the first search, N rents one rent
        # interval apart, one boot (targets.create_floor); and how far the ramp was from it.
        "floor_s": round(create_floor, 2),
        "ratio_to_floor": round(ramp / create_floor, 3) if done else None,
        "searches": int(calls.get(targets.SEARCH_ROUTE, 0)),
        "searches_per_object": round(calls.get(targets.SEARCH_ROUTE, 0) / n, 3),
        "rent_calls": int(calls.get(targets.RENT_ROUTE, 0)),
        "listing_pages": int(calls.get(LIST_ROUTE, 0)),
        "http_429_by_route": rate_limited_by_route(requests),
        "running_curve": curve,
        "phase_changes": dict(w.phase_changes),
        "operator_cpu_seconds": round(stats1["cpu_seconds"] - stats0["cpu_seconds"], 2),
        "operator_peak_rss_mb": round(stats1["peak_rss_mb"], 1),
    }
    if not done:
        scenario.problems.append(
            f"only {len(latencies)}/{n} objects reached Running in {ramp:.0f}s ({w.phases()})"
        )
    log(
        f"N={n}: {len(latencies)}/{n} Running after {ramp:.1f}s; "
        f"{total:.0f} Vast calls ({total / n:.2f}/object), 429s {rate_limited(requests)}"
    )


class ListingClock:
    """Sees the operator's listings as bursts of `GET /api/v1/instances/` page calls.

    The simulator's counter is sampled every 0.2 s (its admin routes are not counted). Pages
    of one listing follow each other within a second or two (the route's pacing, a 429 retry);
    listings are `poll_interval` apart, so a quiet spell of `gap` seconds separates them.
    (kopf caches the operator's own health probe for 10 s, too coarse to count listings.)
    """

    def __init__(self, admin: SimAdmin, gap: float) -> None:
        self.admin = admin
        self.gap = gap
        self.count = self._read()
        self.last_change = time.monotonic()
        self.changes: list[float] = []

    def _read(self) -> float:
        return float(self.admin.counters()["routes"].get(LIST_ROUTE, 0))

    def sample(self) -> None:
        count = self._read()
        if count != self.count:
            self.count = count
            self.last_change = time.monotonic()
            self.changes.append(self.last_change)

    def wait_quiet(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sample()
            if time.monotonic() - self.last_change >= self.gap:
                return
            time.sleep(0.2)

    def run_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sample()
            time.sleep(0.2)

    def bursts(self, since: float) -> int:
        times = [t for t in self.changes if t > since]
        if not times:
            return 0
        return 1 + sum(1 for a, b in itertools.pairwise(times) if b - a >= self.gap)


def _steady(
    scenario: Scenario, env: Environment, params: Params, n: int, op: BenchOperator, w: Watcher
) -> None:
    admin = env.sim.admin
    # Open the window between two listings, after the last reconciles of the ramp.
    clock = ListingClock(admin, gap=max(1.0, params.poll_interval / 3.0))
    time.sleep(min(params.poll_interval, 5.0))
    clock.wait_quiet(timeout=params.poll_interval * 3 + 30)
    routes0, metrics0, stats0 = sim_routes(admin), op.metrics(), op.stats()
    modified0 = w.modified_events
    fields0 = Counter(w.changed_fields)
    changes0 = Counter(w.phase_changes)
    log(f"N={n}: steady-state window of {params.steady_seconds:.0f}s")
    t0 = time.monotonic()
    clock.run_for(params.steady_seconds)
    # ... and close it between two listings, so that it holds whole listings only.
    clock.wait_quiet(timeout=params.poll_interval * 3 + 30)
    seconds = time.monotonic() - t0
    routes1, metrics1, stats1 = sim_routes(admin), op.metrics(), op.stats()
    listings = clock.bursts(since=t0)
    calls = diff_counts(routes1, routes0)
    per_min = {route: round(v * 60.0 / seconds, 2) for route, v in calls.items()}
    total = sum(calls.values())
    list_calls = calls.get(LIST_ROUTE, 0.0)
    other = {k: v for k, v in calls.items() if k not in STEADY_ROUTES}
    requests = diff_counts(metrics1["requests"], metrics0["requests"])
    pages_expected = max(1, math.ceil(n / PAGE_SIZE))
    pages_ok = requests.get(f"{LIST_ROUTE}|ok", 0.0)
    pages_seen = round(pages_ok / listings, 2) if listings else None
    changes = Counter(w.phase_changes)
    changes.subtract(changes0)
    scenario.steady = {
        "window_s": round(seconds, 1),
        "vast_calls_total": int(total),
        "vast_calls_per_min": round(total * 60.0 / seconds, 2),
        "vast_calls_per_min_by_route": per_min,
        "listings": listings,
        "listings_per_min": round(listings * 60.0 / seconds, 2),
        "pages_per_poll_expected": pages_expected,
        "pages_per_poll_observed": pages_seen,
        "calls_per_min_bound": round(pages_expected * 60.0 / params.poll_interval, 2),
        "non_listing_calls": int(sum(other.values())),
        "http_429": rate_limited(requests),
        "http_429_by_route": rate_limited_by_route(requests),
        "list_calls_including_rejected": int(list_calls),
        "still_running": w.running(),
        # One Vast instance per object, found by the label that carries its UID.
        "sim_instances_labelled": len(sim_instances(admin, w.uids)),
        "phase_changes": {k: v for k, v in changes.items() if v},
        "k8s_object_writes_per_min": round((w.modified_events - modified0) * 60.0 / seconds, 2),
        "k8s_fields_written": w.changed_fields_since(fields0),
        "operator_cpu_seconds": round(stats1["cpu_seconds"] - stats0["cpu_seconds"], 2),
        "operator_cpu_percent": round(
            100.0 * (stats1["cpu_seconds"] - stats0["cpu_seconds"]) / seconds, 1
        ),
        "reconciles_per_min": round(
            (metrics1["reconciles"] - metrics0["reconciles"]) * 60.0 / seconds, 1
        ),
    }
    if w.running() < n:
        scenario.problems.append(f"only {w.running()}/{n} still Running after the window")
    log(
        f"N={n}: steady {total * 60.0 / seconds:.1f} calls/min ({listings} listings, "
        f"{pages_seen} pages each, expected {pages_expected}); other routes {other or 'none'}"
    )


def _swap_operator(
    env: Environment, params: Params, namespace: str, log_path: Path, *, naive: bool
) -> BenchOperator:
    op = BenchOperator(
        kubeconfig=env.operator_kubeconfig,
        sim=env.sim,
        namespace=namespace,
        log_path=log_path,
        params=params,
        naive=naive,
    )
    op.start()
    return op


def _naive(
    scenario: Scenario,
    env: Environment,
    params: Params,
    n: int,
    op: BenchOperator,
    w: Watcher,
    logs_dir: Path,
) -> BenchOperator:
    """The same objects, observed the naive way: one GET /instances/{id}/ per object per pass.

    The operator is restarted with the benchmark-only `--bench-observe-by-id`; after a settle
    of two poll intervals, a window as long as the steady one counts Vast calls by route. Then
    the normal operator comes back for the delete. Returns the operator now running.
    """
    admin = env.sim.admin
    scenario.operator["ramp_operator"] = op.stats()
    op.stop()
    naive = _swap_operator(
        env,
        params,
        scenario.namespace,
        logs_dir / f"operator-n{n}-naive-scale{params.rate_limit_scale:g}.log",
        naive=True,
    )
    try:
        log(f"N={n}: naive observation (one GET per object per poll); settling")
        time.sleep(2 * params.poll_interval)
        routes0, stats0 = sim_routes(admin), naive.stats()
        t0 = time.monotonic()
        time.sleep(params.steady_seconds)
        seconds = time.monotonic() - t0
        routes1, stats1 = sim_routes(admin), naive.stats()
    finally:
        naive.stop()
    calls = diff_counts(routes1, routes0)
    total = sum(calls.values())
    ours = scenario.steady.get("vast_calls_per_min") or 0.0
    per_min = total * 60.0 / seconds
    demand = n * 60.0 / params.poll_interval  # one GET per object per poll, if Vast allowed it
    get_interval = DEFAULT_INTERVALS[targets.GET_ROUTE] * params.rate_limit_scale
    scenario.steady["naive"] = {
        "window_s": round(seconds, 1),
        "vast_calls_per_min": round(per_min, 2),
        "vast_calls_per_min_by_route": {k: round(v * 60.0 / seconds, 2) for k, v in calls.items()},
        "ratio_to_ours": round(per_min / ours, 2) if ours else None,
        "calls_per_min_wanted": round(demand, 1),
        "ratio_wanted_to_ours": round(demand / ours, 2) if ours else None,
        # Vast allows one GET /instances/{id}/ per `get_interval`: the naive way cannot even see
        # each object once per poll; this is how stale its view of each object gets.
        "get_route_interval_s": round(get_interval, 3),
        "seconds_between_looks_per_object": round(n * get_interval, 1),
        "operator_cpu_percent": round(
            100.0 * (stats1["cpu_seconds"] - stats0["cpu_seconds"]) / seconds, 1
        ),
        "still_running": w.running(),
    }
    log(
        f"N={n}: naive {per_min:.1f} calls/min against ours {ours:.1f} "
        f"(it would want {demand:.0f}/min)"
    )
    log(f"N={n}: the normal operator again, for the delete; waiting until it has settled")
    op = _swap_operator(
        env,
        params,
        scenario.namespace,
        logs_dir / f"operator-n{n}-after-scale{params.rate_limit_scale:g}.log",
        naive=False,
    )
    # A restarted operator first runs a pass for every object; the delete is timed from a
    # settled operator, like the one of a scenario without the naive window.
    settled = wait_until(
        "the restarted operator to reconcile every object",
        lambda: op.metrics()["reconciles"] >= n,
        300.0,
        every=1.0,
    )
    time.sleep(params.poll_interval)
    scenario.steady["naive"]["restart_settled"] = settled
    scenario.steady["naive"]["operator_peak_rss_mb"] = round(stats1["peak_rss_mb"], 1)
    scenario.operator["restarted_peak_rss_mb_before_delete"] = round(op.stats()["peak_rss_mb"], 1)
    return op


def _delete(
    scenario: Scenario, env: Environment, params: Params, n: int, op: BenchOperator, w: Watcher
) -> None:
    admin = env.sim.admin
    routes0, metrics0, stats0 = sim_routes(admin), op.metrics(), op.stats()
    log(f"N={n}: deleting")
    t0 = time.monotonic()
    env.cluster.kubectl(
        "delete", PLURAL, "--all", "-n", scenario.namespace, "--wait=false", timeout=300
    )
    done = wait_until(
        f"{n} objects to be gone",
        lambda: w.present() == 0,
        params.delete_timeout(n),
        progress=lambda: f"{w.present()}/{n} left, phases {w.phases()}",
        every=params.sample_interval,
    )
    seconds = time.monotonic() - t0
    routes1, metrics1, stats1 = sim_routes(admin), op.metrics(), op.stats()
    gone = [t.deleted_at - t0 for t in w.tracks() if t.deleted_at is not None]
    calls = diff_counts(routes1, routes0)
    total = sum(calls.values())
    requests = diff_counts(metrics1["requests"], metrics0["requests"])
    left = sim_instances(admin, w.uids)
    delete_floor = targets.delete_floor(n, params.rate_limit_scale)
    scenario.delete = {
        "all_gone": done,
        "seconds_to_all_gone": round(seconds, 2) if done else None,
        "floor_s": round(delete_floor, 2),
        "ratio_to_floor": round(seconds / delete_floor, 3) if done else None,
        "gone_p50_s": _r(percentile(gone, 50)),
        "gone_p95_s": _r(percentile(gone, 95)),
        "vast_calls_total": int(total),
        "vast_calls_per_object": round(total / n, 2),
        "vast_calls_by_route": calls,
        "operator_requests_by_outcome": requests,
        "http_429": rate_limited(requests),
        "http_429_by_route": rate_limited_by_route(requests),
        "instances_left_in_sim": len(left),
        "operator_cpu_seconds": round(stats1["cpu_seconds"] - stats0["cpu_seconds"], 2),
    }
    if not done:
        scenario.problems.append(f"{w.present()}/{n} objects still present after {seconds:.0f}s")
    if left:
        scenario.problems.append(f"{len(left)} instances left in the simulator after deletion")
    log(
        f"N={n}: all gone after {seconds:.1f}s; {total:.0f} Vast calls "
        f"({total / n:.2f}/object); {len(left)} instances left in the simulator"
    )


def _cleanup(
    env: Environment, namespace: str, op: BenchOperator, scenario: Scenario, uids: set[str]
) -> None:
    """Whatever happened: the operator destroys what is left, then stops."""
    cluster = env.cluster
    try:
        if not op.process.alive:
            # Its finalizers hold the objects, and only it destroys what they rented.
            op.process.start()
        if op.process.alive:
            cluster.kubectl("delete", PLURAL, "--all", "-n", namespace, "--wait=false", check=False)
            wait_until(
                "cleanup",
                lambda: (
                    not json.loads(
                        cluster.kubectl("get", PLURAL, "-n", namespace, "-o", "json").stdout
                    )["items"]
                ),
                300,
                every=2.0,
            )
    except Exception as exc:
        scenario.problems.append(f"cleanup: {exc}")
    finally:
        op.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    try:
        left = sim_instances(env.sim.admin, uids)
    except httpx.HTTPError as exc:
        scenario.problems.append(f"cleanup: simulator unreachable ({exc})")
        return
    if left:
        # Never leave anything rented, even in a simulator: destroy behind the operator's back.
        scenario.problems.append(f"cleanup: destroyed {len(left)} instances the operator left")
        for inst in left:
            with contextlib.suppress(Exception):
                env.sim.admin.destroy_instance(int(inst["id"]))


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# ---------------------------------------------------------------------------------------------
# The whole run, its JSON and its table
# ---------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = match.group(1).strip() if match else ""
    mem_mb = None
    with contextlib.suppress(OSError, AttributeError):
        match = re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.M)
        mem_mb = int(match.group(1)) // 1024 if match else None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    versions = {}
    for dist in ("kopf", "kubernetes", "httpx", "pydantic", "uvicorn"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[dist] = version(dist)
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu,
        "cpus": os.cpu_count(),
        "memory_mb": mem_mb,
        "loadavg_at_start": [round(x, 2) for x in load] if load else None,
        "packages": versions,
    }


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def run(
    params: Params,
    out: Path,
    *,
    kubeconfig: Path | None = None,
    cluster: envtest.Cluster | None = None,
    sim: RunningSim | None = None,
) -> dict[str, Any]:
    """Run every scenario; write the JSON to `out`; return it."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    logs_dir = out.with_name(out.stem + "-logs")
    logs_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result: dict[str, Any] = {
        "benchmark": "vast-operator scaling",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "git": git_info(),
        "parameters": {
            **asdict(params),
            "requests_per_second_effective": params.rps,
            "num_machines_effective": params.machines,
            "page_size": PAGE_SIZE,
            "query_mix": list(params.queries),
            "cluster": "external kubeconfig" if kubeconfig or cluster else "local envtest",
        },
        "scenarios": [],
    }
    with environment(params, kubeconfig=kubeconfig, cluster=cluster, sim=sim) as env:
        result["parameters"]["kubernetes_server"] = env.kube.server
        for n, scenario_params in scenario_plan(params):
            configure_sim(env.sim.admin, scenario_params)
            scenario = run_scenario(env, scenario_params, n, logs_dir)
            result["scenarios"].append(
                {**asdict(scenario), "settings": scenario_settings(scenario_params)}
            )
            write_json(out, result)
    if params.plan:
        result["targets"] = targets.rows(result)
    result["total_seconds"] = round(time.monotonic() - started, 1)
    result["ok"] = all(s["ok"] for s in result["scenarios"])
    write_json(out, result)
    return result


def scenario_plan(params: Params) -> list[tuple[int, Params]]:
    """(N, the settings of that scenario): `objects` with the run's settings, or the plan."""
    if not params.plan:
        return [(n, params) for n in params.objects]
    out = []
    for entry in params.plan:
        changes = {k: v for k, v in entry.items() if k not in ("n", "label")}
        out.append(
            (int(entry["n"]), dc_replace(params, plan=None, objects=[entry["n"]], **changes))
        )
    return out


def scenario_settings(params: Params) -> dict[str, Any]:
    return {
        "rate_limit_scale": params.rate_limit_scale,
        "same_query": params.same_query,
        "naive": params.naive,
        "requests_per_second": params.rps,
        "steady_seconds": params.steady_seconds,
    }


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


COLUMNS = (
    ("N", 5),
    ("scale", 5),
    ("create p50/p95/max s", 22),
    ("create/floor", 12),
    ("calls/obj create", 16),
    ("searches/obj", 12),
    ("steady calls/min", 16),
    ("pages/poll exp (seen)", 21),
    ("429s", 5),
    ("delete s", 8),
    ("delete/floor", 12),
    ("calls/obj delete", 16),
    ("RSS MB", 7),
    ("CPU s", 7),
    ("k8s writes/min", 14),
)


def _fmt(value: Any, spec: str = ".1f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def table(result: Mapping[str, Any]) -> str:
    rows = []
    for s in result["scenarios"]:
        c, st, d, o = s["create"], s["steady"], s["delete"], s["operator"]
        http_429 = sum(int(part.get("http_429") or 0) for part in (c, st, d))
        pages = "-"
        if st:
            pages = (
                f"{st['pages_per_poll_expected']} ({_fmt(st['pages_per_poll_observed'], '.2f')})"
            )
        rows.append(
            (
                str(s["n"]),
                _fmt((s.get("settings") or {}).get("rate_limit_scale"), "g"),
                "/".join(
                    _fmt(c.get(k)) for k in ("latency_p50_s", "latency_p95_s", "latency_max_s")
                ),
                _fmt(c.get("ratio_to_floor"), ".3f"),
                _fmt(c.get("vast_calls_per_object"), ".2f"),
                _fmt(c.get("searches_per_object"), ".3f"),
                _fmt(st.get("vast_calls_per_min")),
                pages,
                str(http_429),
                _fmt(d.get("seconds_to_all_gone")),
                _fmt(d.get("ratio_to_floor"), ".3f"),
                _fmt(d.get("vast_calls_per_object"), ".2f"),
                _fmt(o.get("peak_rss_mb")),
                _fmt(o.get("cpu_seconds")),
                _fmt(st.get("k8s_object_writes_per_min")),
            )
        )
    header = " | ".join(name.rjust(width) for name, width in COLUMNS)
    lines = [header, "-+-".join("-" * width for _, width in COLUMNS)]
    for row in rows:
        lines.append(
            " | ".join(cell.rjust(width) for cell, (_, width) in zip(row, COLUMNS, strict=True))
        )
    p = result["parameters"]
    lines.append(
        f"poll interval {p['poll_interval']:g}s, rate-limit scale {p['rate_limit_scale']:g}, "
        f"{p['requests_per_second_effective']:g} req/s, boot {p['boot_seconds']:g}s, steady "
        f"window {p['steady_seconds']:g}s, {result['machine']['cpus']} CPUs"
    )
    for s in result["scenarios"]:
        for problem in s["problems"]:
            lines.append(f"N={s['n']}: PROBLEM: {problem}")
    return "\n".join(lines)


def parse_objects(text: str) -> list[int]:
    values = [int(x) for x in re.split(r"[,\s]+", text.strip()) if x]
    if not values or any(v < 1 for v in values):
        raise ValueError("--objects takes positive integers, e.g. 10,100,300")
    return values
