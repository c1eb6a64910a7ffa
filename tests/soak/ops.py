"""The operations a tenant performs, drawn from the seeded RNG: create, change mutable fields,
stop and start, pause, adopt, change lifetime, delete, delete a namespace, rotate a credentials
Secret. Each returns a short description for the step log (or None when it did not apply).
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
from env import GROUP, SoakEnv, log
from ledger import ENDPOINTS, INSTANCES, KINDS, VOLUMES, Ledger, Obj

QUERIES: tuple[dict[str, Any], ...] = (
    {"gpuName": "RTX 4090", "numGpus": 1},
    {"gpuName": "RTX 3090", "numGpus": 1},
    {"gpuNames": ["RTX A6000", "L40S"], "numGpus": 1},
    {"gpuName": "RTX 5090", "numGpus": 1},
)
CAPS: tuple[float | None, ...] = (None, 0.2, 0.35, 0.5, 0.8, 1.2, 2.5)
VLLM = "3f19d5a7c2b84e6d9a0b1c2d3e4f5a6b"


def fingerprint(key: str) -> str:
    """status.accountFingerprint of a key (vast_operator.accounts: a SHA-256 prefix)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class Ops:
    def __init__(self, env: SoakEnv, ledger: Ledger, rng: random.Random, objects: int) -> None:
        self.env = env
        self.ledger = ledger
        self.rng = rng
        self.target = objects
        self.namespaces: dict[str, int] = {}  # live namespace -> account index of its Secret
        self.ns_counter = 0
        self.counts: dict[str, int] = {}
        self.user_instances: list[int] = []  # rented by "a user" directly, to adopt

    # -- plumbing --------------------------------------------------------------------------------
    @property
    def http(self) -> httpx.Client:
        assert self.env.kube is not None
        return self.env.kube.http

    def _req(self, method: str, path: str, body: Any = None, patch: bool = False) -> httpx.Response:
        headers = {"Content-Type": "application/merge-patch+json"} if patch else {}
        return self.http.request(method, path, json=body, headers=headers, timeout=30)

    def live(self, kind: str | None = None) -> list[Obj]:
        return [
            o
            for o in self.ledger.all()
            if o.delete_requested is None
            and o.ns in self.namespaces
            and (kind is None or o.kind == kind)
        ]

    # -- namespaces and Secrets ------------------------------------------------------------------
    def new_namespace(self) -> str:
        self.ns_counter += 1
        name = f"soak-{self.ns_counter}"
        self._req("POST", "/api/v1/namespaces", {"metadata": {"name": name}}).raise_for_status()
        self.namespaces[name] = self.ns_counter % len(self.env.keys)
        return name

    def _secret(self, ns: str, name: str, account: int, create: bool) -> bool:
        data = {"api-key": base64.b64encode(self.env.keys[account].encode()).decode()}
        if create:
            body = {"metadata": {"name": name}, "data": data}
            response = self._req("POST", f"/api/v1/namespaces/{ns}/secrets", body)
        else:
            path = f"/api/v1/namespaces/{ns}/secrets/{name}"
            response = self._req("PATCH", path, {"data": data}, True)
        return response.status_code < 300

    def rotate_secret(self) -> str | None:
        """Point an object's credentials Secret at the other Vast account (a tenant's
        mistake or a migration: the operator must refuse it while something is rented there)."""
        objs = [o for o in self.live() if o.secret is not None]
        if not objs:
            return None
        obj = self.rng.choice(objs)
        account = (obj.account + 1) % len(self.env.keys)
        assert obj.secret is not None
        if not self._secret(obj.ns, obj.secret, account, create=False):
            return None
        obj.account = account
        return f"rotate {obj.ns}/{obj.secret} -> account {account}"

    def restore_credentials(self) -> int:
        """Quiet: every object's Secret names the account its resources live on again (what a
        tenant does after AccountChanged). Returns how many Secrets changed."""
        by_fingerprint = {fingerprint(k): i for i, k in enumerate(self.env.keys)}
        changed = 0
        objects = {o["metadata"]["uid"]: o for p in KINDS for o in self.env.list_kind(p)}
        for obj in self.ledger.all():
            found = objects.get(obj.uid)
            if found is None or obj.secret is None:
                continue
            recorded = (found.get("status") or {}).get("accountFingerprint")
            account = by_fingerprint.get(recorded, obj.account) if recorded else obj.account
            if account != obj.account and self._secret(obj.ns, obj.secret, account, False):
                obj.account = account
                changed += 1
        return changed

    def delete_namespace(self) -> str | None:
        if len(self.namespaces) < 3:
            return None
        ns = self.rng.choice(sorted(self.namespaces))
        now = time.time()
        for obj in self.ledger.all():
            if obj.ns == ns and obj.delete_requested is None:
                obj.delete_requested = now
        self._req("DELETE", f"/api/v1/namespaces/{ns}")
        del self.namespaces[ns]
        self.new_namespace()
        return f"delete namespace {ns}"

    # -- creating --------------------------------------------------------------------------------
    def _credentials(self, obj: Obj) -> dict[str, Any]:
        """Most objects get a credentials Secret of their own (so rotating it touches one
        object); some use the operator's default key (account 0)."""
        if self.rng.random() < 0.2:
            obj.account = 0
            return {}
        obj.secret, obj.account = f"creds-{obj.name}", self.namespaces[obj.ns]
        if not self._secret(obj.ns, obj.secret, obj.account, create=True):
            raise RuntimeError(f"could not create Secret {obj.ns}/{obj.secret}")
        return {"credentialsRef": {"name": obj.secret}}

    def instance_spec(self, creds: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
        cap = self.rng.choice(CAPS)
        spec: dict[str, Any] = {
            "offer": {"query": dict(self.rng.choice(QUERIES))},
            "image": "vastai/base-image:latest",
            "disk": 16,
            "placement": {"bootTimeout": "40s", "maxAttempts": 3, "offlineGrace": "20s"},
            "updatePolicy": self.rng.choice(["NextRental", "Recreate"]),
            **creds,
        }
        if cap is not None:
            spec["maxPricePerHour"] = cap
        if self.rng.random() < 0.15 and cap is not None:
            spec["type"] = "interruptible"
            spec["bidPerHour"] = round(cap * self.rng.uniform(0.3, 0.9), 3)
        if self.rng.random() < 0.1:
            spec["lifetime"] = self.rng.choice(["45s", "2m", "5m"])
        if self.rng.random() < 0.05:
            spec["deletionPolicy"] = "Orphan"
        return spec, cap

    def create(self) -> str | None:
        if len(self.live()) >= self.target or not self.namespaces:
            return None
        ns = self.rng.choice(sorted(self.namespaces))
        roll = self.rng.random()
        name = f"o{self.ledger.step}"
        pending = Obj("", ns, name, "", time.time())
        creds = self._credentials(pending)
        cap: float | None = None
        annotations: dict[str, str] = {}
        vast_name: str | None = None
        if roll < 0.65:
            kind = INSTANCES
            spec, cap = self.instance_spec(creds)
            if self.user_instances and self.rng.random() < 0.5:
                annotations["vast.ai/instance-id"] = str(self.user_instances.pop())
                spec["maxPricePerHour"] = cap = 2.5
                spec.pop("type", None)
                spec.pop("bidPerHour", None)
        elif roll < 0.82:
            kind = VOLUMES
            spec = {
                "size": self.rng.choice([10, 20, 40]),
                "offer": {"query": {"gpuName": self.rng.choice(["RTX 4090", "RTX 3090"])}},
                **creds,
            }
        else:
            kind = ENDPOINTS
            vast_name = f"soak-{ns}-{name}"
            spec = {
                "endpointName": vast_name,
                "minLoad": 1,
                "maxWorkers": self.rng.randint(1, 6),
                "workergroups": [
                    {
                        "name": "g1",
                        "templateHash": VLLM,
                        "searchParams": "gpu_name=RTX_4090 num_gpus=1",
                        "gpuRam": 24,
                        "maxWorkers": 2,
                    }
                ],
                **creds,
            }
        body = {
            "apiVersion": "vast.ai/v1alpha1",
            "kind": {INSTANCES: "VastInstance", VOLUMES: "VastVolume", ENDPOINTS: "VastEndpoint"}[
                kind
            ],
            "metadata": {"name": name, "annotations": annotations},
            "spec": spec,
        }
        response = self._req("POST", f"{GROUP}/namespaces/{ns}/{kind}", body)
        if response.status_code >= 300:
            log(f"create {kind} {ns}/{name} refused: {response.status_code} {response.text[:200]}")
            return None
        uid = response.json()["metadata"]["uid"]
        if kind == VOLUMES:
            vast_name = f"k8s_{uid.replace('-', '')}"
        obj = Obj(kind, ns, name, uid, time.time(), [(time.time(), cap)], vast_name)
        obj.secret, obj.account = pending.secret, pending.account
        obj.orphan = spec.get("deletionPolicy") == "Orphan"
        if "vast.ai/instance-id" in annotations:
            obj.adopted_ids.add(int(annotations["vast.ai/instance-id"]))
        self.ledger.add(obj)
        return f"create {kind} {obj.key}" + (" (adopt)" if annotations else "")

    def rent_for_adoption(self) -> str | None:
        """A user rents an instance by hand (no label), to adopt it later."""
        state = self.env.sim_state()
        offers = [
            m["slots"]["1"]
            for m in state["machines"]
            if m.get("listed")
            and m.get("free_gpus", 0) >= 1
            and "1" in m.get("slots", {})
            and m["dph_per_gpu"] < 1.5
            and not m.get("never_boot")
            and not m.get("oci_error")
        ]
        if not offers or self.env.sim is None:
            return None
        offer = self.rng.choice(sorted(offers))
        with self.env.sim.client(timeout=10) as client:
            response = client.put(
                f"/api/v0/asks/{offer}/",
                json={
                    "client_id": "me",
                    "image": "vastai/base-image:latest",
                    "disk": 16,
                    "runtype": "ssh",
                },
            )
        if response.status_code != 200:
            return None
        contract = int(response.json()["new_contract"])
        self.user_instances.append(contract)
        return f"user rents instance {contract} (to adopt)"

    # -- changing --------------------------------------------------------------------------------
    def _patch(self, obj: Obj, patch: dict[str, Any]) -> bool:
        response = self._req(
            "PATCH", f"{GROUP}/namespaces/{obj.ns}/{obj.kind}/{obj.name}", patch, True
        )
        return response.status_code < 300

    def change_cap(self) -> str | None:
        objs = [o for o in self.live(INSTANCES) if not o.adopted_ids]
        if not objs:
            return None
        obj = self.rng.choice(objs)
        cap = self.rng.choice([c for c in CAPS if c is not None])
        if not self._patch(
            obj, {"spec": {"maxPricePerHour": cap, "bidPerHour": None, "type": "onDemand"}}
        ):
            return None
        obj.caps.append((time.time(), cap))  # the old cap stays allowed until the patch answered
        return f"cap {obj.key} -> {cap}"

    def stop_start(self) -> str | None:
        objs = self.live(INSTANCES)
        if not objs:
            return None
        obj = self.rng.choice(objs)
        state = self.rng.choice(["Stopped", "Running"])
        return (
            f"state {obj.key} -> {state}" if self._patch(obj, {"spec": {"state": state}}) else None
        )

    def pause(self) -> str | None:
        objs = self.live()
        if not objs:
            return None
        obj = self.rng.choice(objs)
        value = self.rng.choice(["true", None])
        ok = self._patch(obj, {"metadata": {"annotations": {"vast.ai/paused": value}}})
        return f"paused {obj.key} -> {value}" if ok else None

    def lifetime(self) -> str | None:
        objs = self.live(INSTANCES)
        if not objs:
            return None
        obj = self.rng.choice(objs)
        value = self.rng.choice(["30s", "90s", "10m", None])
        return (
            f"lifetime {obj.key} -> {value}"
            if self._patch(obj, {"spec": {"lifetime": value}})
            else None
        )

    def change_query(self) -> str | None:
        objs = [o for o in self.live(INSTANCES) if not o.adopted_ids]
        if not objs:
            return None
        obj = self.rng.choice(objs)
        query = dict(self.rng.choice(QUERIES))
        patch = {
            "spec": {
                "offer": {"query": {"gpuName": None, "gpuNames": None, **query}},
                "env": [{"name": "STEP", "value": str(self.ledger.step)}],
            }
        }
        return f"query {obj.key} -> {query}" if self._patch(obj, patch) else None

    def change_endpoint(self) -> str | None:
        objs = self.live(ENDPOINTS)
        if not objs:
            return None
        obj = self.rng.choice(objs)
        patch = {
            "spec": {"maxWorkers": self.rng.randint(1, 8), "minLoad": self.rng.choice([0, 1, 2])}
        }
        return f"endpoint {obj.key} changed" if self._patch(obj, patch) else None

    def delete(self) -> str | None:
        objs = self.live()
        if len(objs) < self.target // 2:
            return None
        obj = self.rng.choice(objs)
        obj.delete_requested = time.time()
        self._req("DELETE", f"{GROUP}/namespaces/{obj.ns}/{obj.kind}/{obj.name}")
        return f"delete {obj.kind} {obj.key}"

    def table(self) -> list[tuple[int, str, Callable[[], str | None]]]:
        return [
            (30, "create", self.create),
            (8, "change_cap", self.change_cap),
            (8, "stop_start", self.stop_start),
            (4, "pause", self.pause),
            (3, "lifetime", self.lifetime),
            (4, "change_query", self.change_query),
            (4, "change_endpoint", self.change_endpoint),
            (12, "delete", self.delete),
            (1, "delete_namespace", self.delete_namespace),
            (3, "rotate_secret", self.rotate_secret),
            (2, "rent_for_adoption", self.rent_for_adoption),
        ]

    def random_op(self) -> str | None:
        table = self.table()
        ((name, fn),) = self.rng.choices(
            [(n, f) for _, n, f in table], weights=[w for w, _, _ in table]
        )
        result = fn()
        if result is not None:
            self.counts[name] = self.counts.get(name, 0) + 1
        return result
