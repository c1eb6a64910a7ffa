"""The shared state every API area of the world works on.

`WorldState` owns the records (machines, instances, volumes, keys, templates, secrets,
endpoints, workergroups), the lock that guards them, the simulated clock, the id counters, the
offer indexes and the lazy lifecycle refresh. It also turns the records into the state file's
dict and back (`to_dict` / `load_dict`). The API areas (one module each in this package) are
mixins over this class; `vast_sim.world.World` composes them.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from vast_sim import billing, instance_view, lifecycle, market_events
from vast_sim.catalog import SEED_TEMPLATES
from vast_sim.config import AccountSpec, SimConfig
from vast_sim.errors import VastError, vast_error
from vast_sim.market import IdSource, generate_machines, initial_ids
from vast_sim.models import (
    PRIMARY_USER_ID,
    Account,
    Endpoint,
    Instance,
    JSONDict,
    Machine,
    SshKey,
    Template,
    Volume,
    Workergroup,
    record_from_dict,
)
from vast_sim.offer_rows import offer_static

STATE_FORMAT = "vast-sim/1"


def _shallow(obj: Any) -> JSONDict:
    """Shallow dict of a record. Nested containers are never mutated in place (copy-on-write)."""
    return dict(vars(obj))


class WorldState:
    """Everything the simulated Vast account and market contain, and its bookkeeping."""

    def __init__(self, config: SimConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._clock = clock
        self.version = 0
        self.results: dict[str, str] = {}
        self._build(config.seed, config.num_machines)

    # --- bookkeeping ---------------------------------------------------------------------------

    def _build(self, seed: int, num_machines: int) -> None:
        self.seed = seed
        self.num_machines = num_machines
        self.clock_offset = 0.0
        self.accounts: dict[int, Account] = {}
        self._add_account(self.config.api_key, self.config.credit, "simuser", PRIMARY_USER_ID)
        for extra in self.config.accounts:
            self._add_account_spec(extra)
        self.ids: IdSource = initial_ids(seed)
        machines = generate_machines(seed, num_machines, self.now(), self.ids)
        self.machines: dict[int, Machine] = {m.machine_id: m for m in machines}
        self.instances: dict[int, Instance] = {}
        self.volumes: dict[int, Volume] = {}
        self.ssh_keys: dict[int, SshKey] = {}
        self.templates: dict[str, Template] = {}
        self.endpoints: dict[int, Endpoint] = {}
        self.workergroups: dict[int, Workergroup] = {}
        self.ledger = billing.Ledger()
        self.next_ids: dict[str, int] = {
            "ssh_key": 81_000,
            "template": 310_000,
            "endpoint": 6_100,
            "workergroup": 14_200,
        }
        self._transient: set[int] = set()
        self._reindex()
        for spec in SEED_TEMPLATES:
            self._add_template(dict(spec), created_at=self.now() - 86400 * 90)

    def _reindex(self) -> None:
        self.offer_index: dict[int, tuple[int, int]] = {}
        self.vol_offer_index: dict[int, int] = {}
        self._static_cache: dict[int, JSONDict] = {}
        for m in self.machines.values():
            for size, offer_id in m.slots.items():
                self.offer_index[offer_id] = (m.machine_id, int(size))
            self.vol_offer_index[m.vol_offer_id] = m.machine_id
        self._transient = {i.id for i in self.instances.values() if lifecycle.is_transient(i)}

    def _touch(self) -> None:
        self.version += 1

    def _next(self, kind: str) -> int:
        value = self.next_ids[kind]
        self.next_ids[kind] = value + 1
        return value

    def now(self) -> float:
        return self._clock() + self.clock_offset

    # --- accounts ------------------------------------------------------------------------------

    def _add_account(
        self, api_key: str, credit: float, username: str | None = None, user_id: int | None = None
    ) -> Account:
        if not api_key or any(ch.isspace() for ch in api_key):
            raise ValueError("an API key must be a non-empty string without whitespace")
        if any(a.api_key == api_key for a in self.accounts.values()):
            raise ValueError("that API key already belongs to an account")
        uid = user_id if user_id is not None else max(self.accounts, default=PRIMARY_USER_ID) + 1
        account = Account(uid, api_key, username or f"simuser{uid}", float(credit))
        self.accounts[uid] = account
        return account

    def _add_account_spec(self, spec: AccountSpec) -> Account:
        credit = self.config.credit if spec.credit is None else spec.credit
        return self._add_account(spec.api_key, credit, spec.username)

    def account_for_key(self, api_key: str) -> Account | None:
        with self.lock:
            for account in self.accounts.values():
                if account.api_key == api_key:
                    return account
            return None

    def _account(self, owner: int) -> Account:
        account = self.accounts.get(owner)
        if account is None:
            raise vast_error(404, "auth_error", "Invalid user key")
        return account

    def _settle(self, owner: int) -> Account:
        """The account, with everything billed until now taken off its credit."""
        account = self._account(owner)
        self._refresh_transient()  # transitions due by now change what was billed
        due = self.ledger.settle(owner, self.now())
        if due:
            account.credit = float(Decimal(repr(account.credit)) - due)
            self._touch()
        return account

    def _static(self, offer_id: int) -> JSONDict:
        cached = self._static_cache.get(offer_id)
        if cached is None:
            machine_id, size = self.offer_index[offer_id]
            cached = offer_static(self.machines[machine_id], size, offer_id)
            self._static_cache[offer_id] = cached
        return cached

    def _machine_static(self, machine: Machine, size: int) -> JSONDict:
        offer_id = machine.slots.get(str(size))
        if offer_id is not None:
            return self._static(offer_id)
        return offer_static(machine, size, 0)

    def _refresh(self, inst: Instance) -> None:
        self._market_tick(inst)
        if lifecycle.is_transient(inst):
            machine = self.machines[inst.machine_id]
            if inst.phase == "scheduling":
                # GPUs an unloading rental on this machine has given back by now count.
                for other_id in sorted(self._transient):
                    other = self.instances.get(other_id)
                    if (
                        other is not None
                        and other.machine_id == machine.machine_id
                        and other.phase == lifecycle.UNLOADING
                    ):
                        self._refresh(other)
            lifecycle.advance(inst, machine, self.now())
            self.ledger.sync(inst, self.now())
            if inst.phase == lifecycle.UNLOADED:
                self._remove(inst)
            elif not lifecycle.is_transient(inst):
                self._transient.discard(inst.id)
                self._touch()

    def _remove(self, inst: Instance) -> None:
        """The contract is over and unloaded: its GPUs go back, its row is gone."""
        self.ledger.end(f"instance-{inst.id}", self.now())
        lifecycle.release_gpus(inst, self.machines[inst.machine_id])
        self.instances.pop(inst.id, None)
        self._transient.discard(inst.id)
        self._touch()

    def _market_tick(self, inst: Instance) -> None:
        """Price increases and contract ends due by now (market_events.tick)."""
        machine = self.machines[inst.machine_id]
        changed, gone = market_events.tick(inst, machine, self.now(), self.ledger)
        if gone:
            self._remove(inst)
        elif changed:
            self._mark(inst)

    def _refresh_transient(self) -> None:
        for each in list(self.instances.values()):
            self._market_tick(each)
        for inst_id in sorted(self._transient):
            inst = self.instances.get(inst_id)
            if inst is None:
                self._transient.discard(inst_id)
            else:
                self._refresh(inst)

    def _mark(self, inst: Instance) -> None:
        """Call after every change to an instance (state, price, label): billing follows it."""
        self.ledger.sync(inst, self.now())
        if lifecycle.is_transient(inst):
            self._transient.add(inst.id)
        else:
            self._transient.discard(inst.id)
        self._touch()

    def _rotate_slot(self, machine: Machine, size: int) -> None:
        """Offers are one-shot: the rented slot gets a fresh offer id."""
        old = machine.slots[str(size)]
        self.offer_index.pop(old, None)
        self._static_cache.pop(old, None)
        new = self.ids.offer_id()
        machine.slots = {**machine.slots, str(size): new}
        self.offer_index[new] = (machine.machine_id, size)

    # --- shared lookups and records ------------------------------------------------------------

    def _get_or(
        self, inst_id: int, error: VastError, owner: int = PRIMARY_USER_ID, live: bool = True
    ) -> Instance:
        """The account's instance, refreshed; raises `error` when it has none by that id (or,
        with `live`, when that contract has ended and is only unloading)."""
        inst = self.instances.get(inst_id)
        if inst is not None:
            self._refresh(inst)
            inst = self.instances.get(inst_id)
        if inst is None or inst.owner != owner or (live and inst.phase == lifecycle.UNLOADING):
            raise error
        return inst

    def _row(self, inst: Instance) -> JSONDict:
        """The wire row of an instance (the lock is held by the caller)."""
        machine = self.machines[inst.machine_id]
        return instance_view.instance_row(
            inst, machine, self._machine_static(machine, inst.num_gpus), self.volumes, self.now()
        )

    def _new_volume(
        self, machine: Machine, size: float, name: Any, now: float, owner: int
    ) -> Volume:
        """Carve a volume out of the machine's free volume space (`PUT /volumes/` or a rental)."""
        vol = Volume(
            id=self.ids.contract_id(),
            machine_id=machine.machine_id,
            size=float(size),
            label=None if name is None else str(name),
            start_date=now,
            storage_cost=machine.storage_cost,
            owner=owner,
        )
        machine.vol_space_free = round(machine.vol_space_free - vol.size, 3)
        self.volumes[vol.id] = vol
        self.ledger.start_volume(vol)
        return vol

    def _visible_templates(self, owner: int) -> dict[str, Template]:
        """Templates `owner` may use: public ones (seeded, or not private) and its own."""
        return {
            hash_id: t
            for hash_id, t in self.templates.items()
            if t.owner is None or t.owner == owner or not t.extra.get("private", False)
        }

    def _add_template(
        self, spec: JSONDict, created_at: float, owner: int | None = None
    ) -> Template:
        """Store a template under a fresh id; its hash id is derived from content and id."""
        content = json.dumps(
            {k: spec.get(k) for k in ("name", "image", "tag", "env", "onstart", "runtype")},
            sort_keys=True,
        )
        hash_id = (
            spec.get("hash_id")
            or hashlib.md5(
                f"{content}{self.next_ids['template']}".encode(), usedforsecurity=False
            ).hexdigest()
        )
        template = Template(
            id=self._next("template"),
            hash_id=str(hash_id),
            name=str(spec.get("name") or "template"),
            image=str(spec.get("image") or ""),
            tag=spec.get("tag"),
            env=str(spec.get("env") or ""),
            onstart=spec.get("onstart"),
            runtype=str(spec.get("runtype") or "ssh"),
            created_at=created_at,
            extra=dict(spec.get("extra") or {}),
            owner=owner,
        )
        self.templates[template.hash_id] = template
        return template

    # --- persistence -----------------------------------------------------------------------------

    def to_dict(self) -> JSONDict:
        """Everything needed to restore the world (shallow copies; serialise promptly)."""
        with self.lock:
            self._refresh_transient()
            return {
                "format": STATE_FORMAT,
                "saved_at": self.now(),
                "seed": self.seed,
                "num_machines": self.num_machines,
                "clock_offset": self.clock_offset,
                "accounts": [_shallow(a) for a in self.accounts.values()],
                "ids": {
                    "next_offer_id": self.ids.next_offer_id,
                    "next_contract_id": self.ids.next_contract_id,
                },
                "next_ids": dict(self.next_ids),
                "machines": [_shallow(m) for m in self.machines.values()],
                "instances": [_shallow(i) for i in self.instances.values()],
                "volumes": [_shallow(v) for v in self.volumes.values()],
                "ssh_keys": [_shallow(k) for k in self.ssh_keys.values()],
                "templates": [_shallow(t) for t in self.templates.values()],
                "endpoints": [_shallow(e) for e in self.endpoints.values()],
                "workergroups": [_shallow(w) for w in self.workergroups.values()],
                "bill": [billing.to_dict(c) for c in self.ledger.charges.values()],
            }

    def load_dict(self, data: JSONDict) -> None:
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"not a vast-sim state file (format {data.get('format')!r})")
        with self.lock:
            self.seed = int(data["seed"])
            self.num_machines = int(data["num_machines"])
            self.clock_offset = float(data.get("clock_offset", 0.0))
            self._load_accounts(data)
            self.ids = IdSource(**data["ids"])
            self.next_ids.update(data.get("next_ids", {}))
            machines = [record_from_dict(Machine, m) for m in data["machines"]]
            self.machines = {m.machine_id: m for m in machines}
            instances = [record_from_dict(Instance, i) for i in data["instances"]]
            self.instances = {i.id: i for i in instances}
            self.volumes = {v.id: v for v in (record_from_dict(Volume, x) for x in data["volumes"])}
            self.ssh_keys = {
                k.id: k for k in (record_from_dict(SshKey, x) for x in data["ssh_keys"])
            }
            templates = [record_from_dict(Template, x) for x in data["templates"]]
            self.templates = {t.hash_id: t for t in templates}
            self.endpoints = {
                e.id: e for e in (record_from_dict(Endpoint, x) for x in data["endpoints"])
            }
            self.workergroups = {
                w.id: w for w in (record_from_dict(Workergroup, x) for x in data["workergroups"])
            }
            charges = [billing.from_dict(c) for c in data.get("bill", [])]
            self.ledger = billing.Ledger({c.source: c for c in charges})
            self._reindex()
            self._touch()

    def _load_accounts(self, data: JSONDict) -> None:
        """The saved accounts; a state file from before accounts holds one account's credit and
        secrets at the top level."""
        saved = data.get("accounts")
        if saved:
            accounts = [record_from_dict(Account, a) for a in saved]
            self.accounts = {a.user_id: a for a in accounts}
            # The command line names the primary key (it may have changed since the save).
            self._account(PRIMARY_USER_ID).api_key = self.config.api_key
            for extra in self.config.accounts:
                if all(a.api_key != extra.api_key for a in self.accounts.values()):
                    self._add_account_spec(extra)
            return
        primary = self.accounts[PRIMARY_USER_ID]
        primary.credit = float(data.get("credit", self.config.credit))
        primary.secrets = dict(data.get("secrets", {}))
