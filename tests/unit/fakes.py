"""In-memory stand-ins for the Kubernetes API and the Vast account, for loop and adapter tests.

`FakeKube` keeps objects and status like the API server does (status patches are JSON merge
patches of the status subresource). `FakeVast` holds instances, offers, volumes and endpoints
and records every call; faults are set per method (`fail["create_instance"] = exc`). The real
`InstancePoller` and `CachedList` run over it, so the loop sees listings the way it does in
production. A `Harness` ties them to a real `ManagedLoop` with a controllable clock.

Time: every read of the `Clock` is a microsecond later than the one before and every Vast call
takes `FakeVast.latency` of it, so a listing that begins after a decision starts later than
that decision, as with a real clock. `CachedList` dates its listings with `time.time()`; while
a `Harness` lives, `vast_operator.accounts` reads the harness clock instead (`ACCOUNTS_TIME`).
The poller lists only when asked for a newer listing: `Harness.poll()` lets its interval pass.
"""

from __future__ import annotations

import copy
import itertools
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from vast_operator import accounts as _accounts_module
from vast_operator.accounts import Account, CachedList
from vast_operator.kube import KubeError, NamespaceGone
from vast_operator.poller import InstancePoller
from vast_operator.reconcile.adapter import Tuning
from vast_operator.reconcile.loop import ManagedLoop
from vast_operator.vast import errors as verr
from vast_operator.vast.models import (
    CreatedVolume,
    CreateInstanceRequest,
    CreateInstanceResult,
    Endpoint,
    EndpointSpec,
    Instance,
    InstanceSshKey,
    Offer,
    Volume,
    VolumeOffer,
    Workergroup,
    WorkergroupRequest,
)

KEY = "fake-vast-key-0123456789"


class Clock:
    """A wall clock that moves only when told to, and by a microsecond at every read."""

    def __init__(self, start: float = 1_700_000_000.0, tick: float = 1e-6) -> None:
        self.now = start
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _AccountsTime:
    """`time` as `vast_operator.accounts` sees it: `CachedList` dates its listings by the clock
    of the live `Harness` (real time when there is none)."""

    def __init__(self) -> None:
        self.clock: Callable[[], float] = _time.time

    def time(self) -> float:
        return self.clock()

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)


ACCOUNTS_TIME = _AccountsTime()
_accounts_module.time = ACCOUNTS_TIME  # type: ignore[attr-defined]


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        self.applied: list[tuple[str, str, dict[str, str]]] = []
        self.status_patches: list[dict[str, Any]] = []
        self.fail_patch: Exception | None = None
        self.secret_finalizers: dict[tuple[str, str], set[str]] = {}
        self.forgotten: list[tuple[str, str]] = []
        self.gone_namespaces: set[str] = set()  # writes there: 404 namespaces "..." not found

    def add(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        meta = body["metadata"]
        self.objects[(plural, meta["namespace"], meta["name"])] = body
        return body

    def body(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.objects[(plural, namespace, name)])

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> str | None:
        if self.fail_patch is not None:
            raise self.fail_patch
        self.status_patches.append(copy.deepcopy(status))
        obj = self.objects[(plural, namespace, name)]
        merge(obj.setdefault("status", {}), status)
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(int(meta.get("resourceVersion") or 0) + 1)
        return str(meta["resourceVersion"])

    async def get_secret_value(self, namespace: str, name: str, key: str) -> str | None:
        return (self.secrets.get((namespace, name)) or {}).get(key)

    def forget_secret(self, namespace: str, name: str) -> None:
        self.forgotten.append((namespace, name))

    async def apply_secret(
        self, namespace: str, name: str, data: dict[str, str], owner: dict[str, Any]
    ) -> None:
        self.applied.append((namespace, name, dict(data)))

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.objects.get((plural, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    async def annotate_object(
        self, plural: str, namespace: str, name: str, uid: str, annotations: dict[str, str]
    ) -> bool:
        obj = self.objects.get((plural, namespace, name))
        if namespace in self.gone_namespaces:
            raise NamespaceGone(f'PATCH {plural}/{name}: namespaces "{namespace}" not found')
        if obj is None:
            return False
        if obj["metadata"].get("uid") != uid:
            raise KubeError(f"PATCH {plural}/{name}: HTTP 422: metadata.uid: field is immutable")
        obj["metadata"].setdefault("annotations", {}).update(annotations)
        return True

    async def set_secret_finalizer(
        self, namespace: str, name: str, finalizer: str, present: bool
    ) -> bool:
        if (namespace, name) not in self.secrets:
            return False
        held = self.secret_finalizers.setdefault((namespace, name), set())
        if present:
            held.add(finalizer)
        else:
            held.discard(finalizer)
        return True

    async def list_objects(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(o)
            for (p, ns, _), o in self.objects.items()
            if p == plural and ns == namespace
        ]


@dataclass
class FakeVast:
    """The calls adapters make on `VastClient`, over dicts. `calls` records (method, arg)."""

    clock: Clock
    offers: list[Offer] = field(default_factory=list)
    instances: dict[int, Instance] = field(default_factory=dict)
    volumes: dict[int, Volume] = field(default_factory=dict)
    volume_offers: list[VolumeOffer] = field(default_factory=list)
    endpoints: dict[int, Endpoint] = field(default_factory=dict)
    workergroups: dict[int, Workergroup] = field(default_factory=dict)
    ssh_keys: dict[int, list[InstanceSshKey]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    fail: dict[str, Exception] = field(default_factory=dict)
    # Rents that land on Vast although the call raised (e.g. a timeout after Vast acted).
    allocate_on_failure: bool = False
    hidden: set[int] = field(default_factory=set)  # ids a listing leaves out
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    # Per offer: Vast answers the rent with this error and allocates nothing.
    fail_offer: dict[int, Exception] = field(default_factory=dict)
    # Every rent request, as (offer id, request).
    rents: list[tuple[int, CreateInstanceRequest]] = field(default_factory=list)
    # Called with the argument before the named call acts (e.g. to read status at that moment).
    hooks: dict[str, Callable[[Any], None]] = field(default_factory=dict)
    # False: destroy calls are accepted but Vast keeps listing the instance (it lags).
    destroy_lands: bool = True
    templates: dict[str, str] = field(default_factory=dict)  # hash -> image
    latency: float = 0.01  # seconds of the fake clock every call takes
    logs: dict[int, str] = field(default_factory=dict)  # instance id -> its log text

    def _call(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg))
        self.clock.advance(self.latency)
        hook = self.hooks.get(name)
        if hook is not None:
            hook(arg)
        exc = self.fail.get(name)
        if exc is not None and not (name == "create_instance" and self.allocate_on_failure):
            raise exc

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.calls if n == name)

    def args(self, name: str) -> list[Any]:
        return [a for n, a in self.calls if n == name]

    # instances
    async def search_offers(self, query: Any) -> list[Offer]:
        self._call("search_offers", query)
        return list(self.offers)

    async def create_instance(self, offer_id: int, request: Any) -> CreateInstanceResult:
        self._call("create_instance", offer_id)
        self.rents.append((offer_id, request))
        refused = self.fail_offer.get(offer_id)
        if refused is not None:
            raise refused
        offer = next(o for o in self.offers if o.id == offer_id)
        new_id = next(self.ids)
        self.instances[new_id] = Instance(
            id=new_id,
            machine_id=offer.machine_id,
            gpu_name=offer.gpu_name,
            num_gpus=offer.num_gpus,
            dph_total=offer.dph_total,
            actual_status="loading",
            intended_status="running",
            label=request.label,
            start_date=self.clock(),
        )
        exc = self.fail.get("create_instance")
        if exc is not None:
            raise exc
        return CreateInstanceResult(new_contract=new_id)

    async def list_instances(
        self, *, select_filters: dict[str, dict[str, Any]] | None = None
    ) -> list[Instance]:
        self._call("list_instances", select_filters)
        rows = [i for i in self.instances.values() if i.id not in self.hidden]
        labels = ((select_filters or {}).get("label") or {}).get("in")
        if labels is not None:
            rows = [i for i in rows if i.label in labels]
        return rows

    async def get_instance(self, instance_id: int) -> Instance | None:
        self._call("get_instance", instance_id)
        return self.instances.get(instance_id)

    async def destroy_instance(self, instance_id: int, *, missing_ok: bool = True) -> None:
        self._call("destroy_instance", instance_id)
        if self.destroy_lands:
            self.instances.pop(instance_id, None)

    def _set(self, instance_id: int, **fields: Any) -> None:
        inst = self.instances[instance_id]
        self.instances[instance_id] = inst.model_copy(update=fields)

    async def stop_instance(self, instance_id: int) -> None:
        self._call("stop_instance", instance_id)
        self._set(instance_id, intended_status="stopped", actual_status="stopped")

    async def start_instance(self, instance_id: int) -> None:
        self._call("start_instance", instance_id)
        self._set(instance_id, intended_status="running", actual_status="loading")

    async def reboot_instance(self, instance_id: int) -> None:
        self._call("reboot_instance", instance_id)
        self._set(instance_id, actual_status="loading", status_msg=None)

    async def request_logs(self, instance_id: int, *, tail: int | None = None) -> str:
        self._call("request_logs", instance_id)
        return f"https://logs.test/{instance_id}"

    async def fetch_result(self, url: str) -> str | None:
        self._call("fetch_result", url)
        return self.logs.get(int(url.rsplit("/", 1)[-1]))

    async def label_instance(self, instance_id: int, label: str) -> None:
        self._call("label_instance", instance_id)
        self._set(instance_id, label=label)

    async def change_bid(self, instance_id: int, price: float | None) -> None:
        """The bid is the row's dph_total less storage; a bid at or above the row's min_bid wins
        the GPUs back (an outbid instance loads again), as the simulator does."""
        self._call("change_bid", (instance_id, price))
        inst = self.instances[instance_id]
        storage = (inst.storage_cost or 0.0) * (inst.disk_space or 0.0) / 720
        bid = price if price is not None else (inst.min_bid or 0.0)
        fields: dict[str, Any] = {"dph_total": round(bid + storage, 6)}
        wins = inst.min_bid is None or bid >= inst.min_bid
        if wins and inst.actual_status == "stopped" and inst.intended_status == "running":
            fields["actual_status"] = "loading"
        self._set(instance_id, **fields)

    async def answer_price_increase(self, instance_id: int, *, accept: bool) -> None:
        self._call("answer_price_increase", (instance_id, accept))
        inst = self.instances[instance_id]
        inc = inst.pending_price_increase
        assert inc is not None, "no pending price increase"
        if accept:
            self._set(
                instance_id,
                dph_base=inc.dph_base,
                dph_total=inc.dph_total,
                pending_price_increase=None,
            )
        else:
            self._set(instance_id, end_date=inc.effective_date, pending_price_increase=None)

    async def attach_ssh_key(self, instance_id: int, public_key: str) -> None:
        self._call("attach_ssh_key", instance_id)
        keys = self.ssh_keys.setdefault(instance_id, [])
        keys.append(InstanceSshKey(id=len(keys) + 1, public_key=public_key))

    async def list_instance_ssh_keys(self, instance_id: int) -> list[InstanceSshKey]:
        self._call("list_instance_ssh_keys", instance_id)
        return list(self.ssh_keys.get(instance_id, []))

    async def detach_ssh_key(self, instance_id: int, key_id: int) -> None:
        self._call("detach_ssh_key", instance_id)
        self.ssh_keys[instance_id] = [
            k for k in self.ssh_keys.get(instance_id, []) if k.id != key_id
        ]

    # volumes
    async def search_volume_offers(self, query: Any) -> list[VolumeOffer]:
        self._call("search_volume_offers", query)
        return list(self.volume_offers)

    async def create_volume(self, offer_id: int, size: int, name: str) -> CreatedVolume:
        self._call("create_volume", offer_id)
        offer = next(o for o in self.volume_offers if o.id == offer_id)
        new_id = next(self.ids)
        self.volumes[new_id] = Volume(
            id=new_id, label=name, machine_id=offer.machine_id, disk_space=size
        )
        exc = self.fail.get("create_volume_after")
        if exc is not None:
            raise exc
        return CreatedVolume(volume_id=new_id, volume_name=f"V.{new_id}")

    async def list_volumes(self) -> list[Volume]:
        self._call("list_volumes")
        return [v for v in self.volumes.values() if v.id not in self.hidden]

    async def delete_volume(self, volume_id: int, *, missing_ok: bool = True) -> None:
        self._call("delete_volume", volume_id)
        self.volumes.pop(volume_id, None)

    # endpoints (Vast's serverless endpoints and workergroups), templates
    async def create_endpoint(self, spec: EndpointSpec) -> int:
        self._call("create_endpoint", spec)
        new_id = next(self.ids)
        fields = spec.model_dump(include=set(EndpointSpec.FIELDS), exclude_none=True)
        fields.setdefault("endpoint_state", "active")
        self.endpoints[new_id] = Endpoint(id=new_id, created_at=self.clock(), **fields)
        exc = self.fail.get("create_endpoint_after")  # Vast acted, the answer was lost
        if exc is not None:
            raise exc
        return new_id

    async def list_endpoints(self) -> list[Endpoint]:
        self._call("list_endpoints")
        return [e for e in self.endpoints.values() if e.id not in self.hidden]

    async def get_endpoint(self, endpoint_id: int) -> Endpoint | None:
        self._call("get_endpoint", endpoint_id)
        return self.endpoints.get(endpoint_id)

    async def update_endpoint(self, endpoint_id: int, spec: EndpointSpec) -> None:
        self._call("update_endpoint", endpoint_id)
        if endpoint_id not in self.endpoints:
            raise verr.NotFoundError("no such endpoint", status=404, route="PUT /endptjobs/")
        fields = spec.model_dump(include=set(EndpointSpec.FIELDS), exclude_none=True)
        self.endpoints[endpoint_id] = self.endpoints[endpoint_id].model_copy(update=fields)

    async def delete_endpoint(self, endpoint_id: int, *, missing_ok: bool = True) -> None:
        self._call("delete_endpoint", endpoint_id)
        if self.endpoints.pop(endpoint_id, None) is None and not missing_ok:
            raise verr.NotFoundError("no such endpoint", status=404, route="DELETE /endptjobs/")
        # Vast deletes the endpoint's workergroups with it.
        for gid in [g.id for g in self.workergroups.values() if g.endpoint_id == endpoint_id]:
            del self.workergroups[gid]

    @staticmethod
    def _group_fields(request: WorkergroupRequest) -> dict[str, Any]:
        fields = request.model_dump(include=set(WorkergroupRequest.FIELDS), exclude_none=True)
        fields.pop("min_cold_load", None)  # not a column of the workergroup row
        fields["search_params"] = request.effective_search_params()  # Vast echoes what it got
        return fields

    async def create_workergroup(self, request: WorkergroupRequest) -> int:
        self._call("create_workergroup", request)
        new_id = next(self.ids)
        self.workergroups[new_id] = Workergroup(id=new_id, **self._group_fields(request))
        exc = self.fail.get("create_workergroup_after")  # Vast acted, the answer was lost
        if exc is not None:
            raise exc
        return new_id

    async def list_workergroups(self) -> list[Workergroup]:
        self._call("list_workergroups")
        return [g for g in self.workergroups.values() if g.id not in self.hidden]

    async def update_workergroup(self, workergroup_id: int, request: WorkergroupRequest) -> None:
        self._call("update_workergroup", workergroup_id)
        if workergroup_id not in self.workergroups:
            raise verr.NotFoundError("no such workergroup", status=404, route="PUT /autojobs/")
        group = self.workergroups[workergroup_id]
        self.workergroups[workergroup_id] = group.model_copy(update=self._group_fields(request))

    async def delete_workergroup(self, workergroup_id: int, *, missing_ok: bool = True) -> None:
        self._call("delete_workergroup", workergroup_id)
        if self.workergroups.pop(workergroup_id, None) is None and not missing_ok:
            raise verr.NotFoundError("no such workergroup", status=404, route="DELETE /autojobs/")

    async def create_template(self, image: str, name: str) -> str:
        self._call("create_template", image)
        hash_id = f"tpl{next(self.ids)}"
        self.templates[hash_id] = image
        return hash_id

    async def delete_template(self, hash_id: str, *, missing_ok: bool = True) -> None:
        self._call("delete_template", hash_id)
        if self.templates.pop(hash_id, None) is None and not missing_ok:
            raise verr.NotFoundError("no such template", status=404, route="DELETE /template/")


def make_account(vast: FakeVast, poll_interval: float = 15.0) -> Account:
    poller = InstancePoller(vast, interval=poll_interval, clock=vast.clock)
    return Account(
        "fp-test",
        vast,  # type: ignore[arg-type]
        poller,
        CachedList(vast.list_volumes, 0.0),
        CachedList(vast.list_endpoints, 0.0),
        CachedList(vast.list_workergroups, 0.0),
    )


class FakeAccounts:
    def __init__(self, account: Account) -> None:
        self.account = account
        self.keys: list[str] = []

    def get(self, api_key: SecretStr) -> Account:
        self.keys.append(api_key.get_secret_value())
        return self.account


@dataclass
class Events:
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(self, body: Any, type_: str, reason: str, message: str) -> None:
        self.seen.append((type_, reason, message))

    def reasons(self) -> list[str]:
        return [r for _, r, _ in self.seen]


FINALIZER = "vast.ai/finalizer"


def obj(
    name: str = "x",
    *,
    spec: dict[str, Any],
    status: dict[str, Any] | None = None,
    finalizer: bool = True,
    namespace: str = "ns",
    uid: str | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "vast.ai/v1alpha1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid or f"uid-{name}",
            "generation": 1,
            "finalizers": [FINALIZER] if finalizer else [],
            "annotations": annotations or {},
        },
        "spec": spec,
        "status": status or {},
    }


@dataclass
class Harness:
    """A real ManagedLoop over fakes, with helpers to run passes and read status."""

    adapter: Any
    plural: str
    clock: Clock = field(default_factory=Clock)
    kube: FakeKube = field(default_factory=FakeKube)
    events: Events = field(default_factory=Events)
    tuning: Tuning = field(
        default_factory=lambda: Tuning(poll_interval=15.0, create_settle=60.0, finalizer=FINALIZER)
    )
    default_key: str | None = KEY
    vast: FakeVast = field(init=False)
    loop: ManagedLoop[Any, Any, Any] = field(init=False)
    accounts: FakeAccounts = field(init=False)

    def __post_init__(self) -> None:
        ACCOUNTS_TIME.clock = self.clock
        self.vast = FakeVast(self.clock)
        self.accounts = FakeAccounts(make_account(self.vast, self.tuning.poll_interval))
        self.loop = ManagedLoop(
            self.adapter,
            self.accounts,  # type: ignore[arg-type]
            self.kube,
            self.events,
            SecretStr(self.default_key) if self.default_key else None,
            self.tuning,
            clock=self.clock,
        )

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.kube.add(self.plural, body)

    def status(self, name: str = "x") -> dict[str, Any]:
        return dict(self.kube.body(self.plural, "ns", name).get("status") or {})

    def condition(self, type_: str, name: str = "x") -> dict[str, Any]:
        conds = self.status(name).get("conditions") or []
        return next((c for c in conds if c["type"] == type_), {})

    async def reconcile(self, name: str = "x") -> float:
        """One pass on a fresh copy of the object, as the daemon would run it."""
        self.clock.advance(0.01)
        return await self.loop.reconcile(self.kube.body(self.plural, "ns", name))

    async def delete(self, name: str = "x", body: dict[str, Any] | None = None) -> Any:
        self.clock.advance(0.01)
        stored = self.kube.objects[(self.plural, "ns", name)]
        stored["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        return await self.loop.delete(body or self.kube.body(self.plural, "ns", name))

    async def poll(self) -> None:
        """Let the poller's interval pass: the clock moves on and Vast is listed again."""
        self.clock.advance(self.tuning.poll_interval)
        await self.accounts.account.poller.snapshot(newer_than=self.clock())

    def next_generation(self, name: str = "x", **spec: Any) -> None:
        """The user edits the spec: these fields change and metadata.generation moves on."""
        stored = self.kube.objects[(self.plural, "ns", name)]
        stored["spec"].update(spec)
        stored["metadata"]["generation"] += 1

    async def stop(self) -> None:
        await self.accounts.account.poller.stop()
        ACCOUNTS_TIME.clock = _time.time


def offer(offer_id: int, machine: int, price: float = 0.3, gpu: str = "RTX 4090") -> Offer:
    return Offer(
        id=offer_id,
        machine_id=machine,
        host_id=machine,
        gpu_name=gpu,
        num_gpus=1,
        dph_total=price,
        reliability=0.99,
        verified=True,
        rentable=True,
        disk_space=500,
        inet_down=1000,
        inet_up=1000,
        gpu_ram=24000,
        cpu_ram=64000,
        cuda_max_good=12.4,
        geolocation="Texas, US",
        direct_port_count=10,
        min_bid=0.1,
    )


Setup = Callable[[Harness], None]


def instance_spec(**extra: Any) -> dict[str, Any]:
    """A valid VastInstance spec (an RTX 4090 under $1/h); `extra` overrides fields."""
    base: dict[str, Any] = {
        "offer": {"query": {"gpuName": "RTX 4090"}},
        "maxPricePerHour": 1.0,
        "image": "pytorch/pytorch",
        "disk": 20,
    }
    base.update(extra)
    return base


async def rent_and_run(h: Harness, **fields: Any) -> int:
    """Rent, give the row the fields of the test, let it run and see it running."""
    await h.reconcile()
    instance_id = int(h.status()["instanceId"])
    h.vast._set(instance_id, actual_status="running", ssh_host="h", ssh_port=22, **fields)
    await h.poll()
    await h.reconcile()
    assert h.status()["phase"] == "Running"
    return instance_id


async def instance_harness() -> Harness:
    """The loop with the VastInstance adapter, over a market of two RTX 4090 offers."""
    from vast_operator.reconcile.instance import InstanceAdapter

    harness = Harness(adapter=InstanceAdapter(), plural="vastinstances")
    harness.vast.offers = [offer(1, machine=11), offer(2, machine=12)]
    return harness
