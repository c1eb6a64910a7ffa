"""The world model: market, instances, volumes, endpoints, workergroups, keys, templates.

`World` is plain Python guarded by one re-entrant lock, so it can be driven from the HTTP
handlers and, in-process, from test code in another thread. Every public method takes the lock;
every mutation bumps `version`, which the persister watches to write the state file.
Operations raise `VastError` with the status and body the real API answers with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from vast_sim import instance_view, lifecycle, views
from vast_sim.catalog import CATALOG
from vast_sim.config import SimConfig
from vast_sim.docker_env import parse_env
from vast_sim.errors import VastError, vast_error
from vast_sim.market import IdSource, generate_machines, initial_ids
from vast_sim.models import (
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
from vast_sim.offer_rows import offer_static, priced_offer, storage_hourly, volume_offer
from vast_sim.query import (
    QueryError,
    compile_offer_filters,
    filter_rows,
    parse_cli_query,
    parse_limit,
    parse_offer_order,
    sort_rows,
)

STATE_FORMAT = "vast-sim/1"
DEFAULT_OFFER_LIMIT = 64
DEFAULT_VOLUME_OFFER_LIMIT = 64
MIN_DISK_GB = 8.0
RUNTYPE_TOKENS = frozenset(
    {
        "ssh",
        "jupyter",
        "args",
        "ssh_proxy",
        "ssh_direc",
        "ssh_direct",
        "jupyter_proxy",
        "jupyter_direc",
        "jupyter_direct",
    }
)
OFFER_TYPES = {"on-demand": "on-demand", "ondemand": "on-demand", "bid": "bid"}
OFFER_TYPES.update({"interruptible": "bid", "reserved": "reserved"})
ENDPOINT_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")
VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9_]{1,64}$")
SSH_KEY_PREFIXES = ("ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-")
MAX_RESULTS = 1000

# Well-known public templates present in every fresh world.
SEED_TEMPLATES: tuple[JSONDict, ...] = (
    {
        "hash_id": "661d064bbda1f2a133816b6d55da07c3",
        "name": "PyTorch (Vast)",
        "image": "vastai/pytorch",
        "tag": "latest",
        "env": "-p 1111:1111 -p 8080:8080 -e OPEN_BUTTON_PORT=1111",
        "onstart": "entrypoint.sh",
        "runtype": "jupyter_direc ssh_direc ssh_proxy",
        "extra": {"recommended": True, "recommended_disk_space": 32, "creator_id": 62897},
    },
    {
        "hash_id": "b0a1e0d6a76f4fb0a4f9a2c3d1e2f3a4",
        "name": "NVIDIA CUDA",
        "image": "vastai/base-image",
        "tag": "cuda-12.4.1-auto",
        "env": "-p 1111:1111 -e OPEN_BUTTON_PORT=1111",
        "onstart": "entrypoint.sh",
        "runtype": "ssh ssh_direc ssh_proxy",
        "extra": {"recommended": True, "recommended_disk_space": 16, "creator_id": 62897},
    },
    {
        "hash_id": "3f19d5a7c2b84e6d9a0b1c2d3e4f5a6b",
        "name": "vLLM",
        "image": "vllm/vllm-openai",
        "tag": "latest",
        "env": "-p 8000:8000",
        "onstart": None,
        "runtype": "args",
        "extra": {"recommended": True, "recommended_disk_space": 64, "creator_id": 62897},
    },
)


def _shallow(obj: Any) -> JSONDict:
    """Shallow dict of a record. Nested containers are never mutated in place (copy-on-write)."""
    return dict(vars(obj))


def _num(value: Any, name: str, *, default: float | None = None, minimum: float = 0.0) -> float:
    if value is None:
        if default is None:
            raise vast_error(400, "invalid_args", f"{name} is required")
        return default
    if isinstance(value, bool):
        raise vast_error(400, "invalid_args", f"{name} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise vast_error(400, "invalid_args", f"{name} must be a number") from None
    if number < minimum:
        raise vast_error(400, "invalid_args", f"{name} must be >= {minimum:g}")
    return number


def _int_id(value: Any, what: str = "id") -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise vast_error(400, "invalid_args", f"invalid {what}") from None
    return number


class World:
    """Everything the simulated Vast account and market contain."""

    def __init__(self, config: SimConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._clock = clock
        self.version = 0
        self.results: dict[str, str] = {}
        self._build(config.seed, config.num_machines, config.credit)

    # --- bookkeeping ---------------------------------------------------------------------------

    def _build(self, seed: int, num_machines: int, credit: float) -> None:
        self.seed = seed
        self.num_machines = num_machines
        self.clock_offset = 0.0
        self.credit = credit
        self.ids: IdSource = initial_ids(seed)
        machines = generate_machines(seed, num_machines, self.now(), self.ids)
        self.machines: dict[int, Machine] = {m.machine_id: m for m in machines}
        self.instances: dict[int, Instance] = {}
        self.volumes: dict[int, Volume] = {}
        self.ssh_keys: dict[int, SshKey] = {}
        self.templates: dict[str, Template] = {}
        self.secrets: dict[str, str] = {}
        self.endpoints: dict[int, Endpoint] = {}
        self.workergroups: dict[int, Workergroup] = {}
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
        self._transient = {
            i.id for i in self.instances.values() if i.phase in lifecycle.TRANSIENT_PHASES
        }

    def _touch(self) -> None:
        self.version += 1

    def _next(self, kind: str) -> int:
        value = self.next_ids[kind]
        self.next_ids[kind] = value + 1
        return value

    def now(self) -> float:
        return self._clock() + self.clock_offset

    def reset(self, seed: int | None = None, num_machines: int | None = None) -> None:
        """A fresh market from the seed; every rental, volume, endpoint and key is gone."""
        with self.lock:
            self._build(
                self.seed if seed is None else seed,
                self.num_machines if num_machines is None else num_machines,
                self.config.credit,
            )
            self.results = {}
            self._touch()

    def advance_clock(self, seconds: float) -> float:
        with self.lock:
            self.clock_offset += seconds
            self._touch()
            return self.now()

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
        if inst.phase in lifecycle.TRANSIENT_PHASES:
            lifecycle.advance(inst, self.machines[inst.machine_id], self.now())
            if inst.phase not in lifecycle.TRANSIENT_PHASES:
                self._transient.discard(inst.id)
                self._touch()

    def _refresh_transient(self) -> None:
        for inst_id in sorted(self._transient):
            inst = self.instances.get(inst_id)
            if inst is None:
                self._transient.discard(inst_id)
            else:
                self._refresh(inst)

    def _mark(self, inst: Instance) -> None:
        if inst.phase in lifecycle.TRANSIENT_PHASES:
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

    # --- offers --------------------------------------------------------------------------------

    def search_offers(self, query: Any) -> list[JSONDict]:
        """`POST /bundles/`: offers matching the query, ordered and limited."""
        if not isinstance(query, dict):
            raise vast_error(
                400, "invalid_args", f"Invalid query: {query!r}, must be dict of conditions"
            )
        offer_type = OFFER_TYPES.get(str(query.get("type") or "on-demand").lower())
        if offer_type is None:
            raise vast_error(400, "invalid_args", f"Invalid offer type {query.get('type')!r}")
        try:
            storage = float(query.get("allocated_storage", 8.0) or 0.0)
            predicates = compile_offer_filters(query)
            order = parse_offer_order(query.get("order"), [["score", "desc"]])
            limit = parse_limit(query.get("limit"), DEFAULT_OFFER_LIMIT)
        except (QueryError, TypeError, ValueError) as exc:
            msg = exc.msg if isinstance(exc, QueryError) else f"Invalid query: {exc}"
            raise vast_error(400, "invalid_request", msg) from None
        with self.lock:
            self._refresh_transient()
            now = self.now()
            rows: list[JSONDict] = []
            for machine in self.machines.values():
                if not machine.listed:
                    continue
                for size_text, offer_id in machine.slots.items():
                    if int(size_text) > machine.free_gpus:
                        continue
                    row = priced_offer(self._static(offer_id), machine, now, offer_type, storage)
                    if all(p(row) for p in predicates):
                        rows.append(row)
        rows = sort_rows(rows, order)
        return rows[:limit] if limit > 0 else rows

    def search_volume_offers(self, query: Any) -> list[JSONDict]:
        """`POST /volumes/search/`: one local-volume offer per machine with free space."""
        if not isinstance(query, dict):
            raise vast_error(
                400, "invalid_args", f"Invalid query: {query!r}, must be dict of conditions"
            )
        try:
            storage = float(query.get("allocated_storage", 1.0) or 0.0)
            predicates = compile_offer_filters(query)
            order = parse_offer_order(query.get("order"), [["score", "desc"]])
            limit = parse_limit(query.get("limit"), DEFAULT_VOLUME_OFFER_LIMIT)
        except (QueryError, TypeError, ValueError) as exc:
            msg = exc.msg if isinstance(exc, QueryError) else f"Invalid query: {exc}"
            raise vast_error(400, "invalid_request", msg) from None
        with self.lock:
            now = self.now()
            rows = [
                volume_offer(m, now, storage)
                for m in self.machines.values()
                if m.listed and m.vol_space_free >= 1
            ]
        rows = sort_rows(filter_rows(rows, predicates), order)
        return rows[:limit] if limit > 0 else rows

    def offer_available(self, offer_id: int) -> bool:
        with self.lock:
            where = self.offer_index.get(offer_id)
            if where is None:
                return False
            machine = self.machines[where[0]]
            return machine.listed and machine.free_gpus >= where[1]

    def vanish_offer(self, offer_id: int) -> None:
        """Someone else rents the offer (fault injection): its GPUs leave the market."""
        with self.lock:
            where = self.offer_index.get(offer_id)
            if where is None:
                return
            machine = self.machines[where[0]]
            size = where[1]
            machine.free_gpus = max(0, machine.free_gpus - size)
            self._rotate_slot(machine, size)
            self._touch()

    def gpu_names(self) -> list[str]:
        with self.lock:
            present = {m.gpu_name for m in self.machines.values()}
        return sorted(present or {g.name for g in CATALOG})

    # --- instances: create -------------------------------------------------------------------

    def create_instance(self, offer_id: int, body: JSONDict) -> JSONDict:
        """`PUT /asks/{id}/`: rent the offer. Returns the success body."""
        with self.lock:
            where = self.offer_index.get(offer_id)
            machine = self.machines[where[0]] if where else None
            if where is None or machine is None or not machine.listed:
                raise vast_error(
                    404,
                    "invalid_args",
                    f"error 404/3603: no_such_ask Instance type by id {offer_id} is not available.",
                    ask_id=offer_id,
                )
            size = where[1]
            static = self._static(offer_id)
            spec = self._instance_spec(offer_id, body, machine, static)
            schedulable = machine.free_gpus >= size
            if not schedulable and bool(body.get("cancel_unavail")):
                raise vast_error(
                    410,
                    "no_such_ask",
                    f"error 410/3907: no_such_ask Instance type {offer_id} is no longer available.",
                    ask_id=offer_id,
                )
            gpu_hour = spec["bid_price"] if spec["is_bid"] else static["dph_base"]
            hourly = gpu_hour + storage_hourly(machine.storage_cost, spec["disk"])
            if self.credit <= 0 or self.credit < hourly:
                raise vast_error(
                    402,
                    "insufficient_credit",
                    f"Insufficient credit: your balance of ${self.credit:.2f} does not cover "
                    f"${hourly:.4f}/hr. Add credit to rent instances.",
                    ask_id=offer_id,
                )
            volume_links = self._prepare_volumes(body, spec["env"], machine, offer_id)
            now = self.now()
            inst = Instance(
                id=self.ids.contract_id(),
                machine_id=machine.machine_id,
                bundle_id=offer_id,
                num_gpus=size,
                is_bid=spec["is_bid"],
                bid_price=spec["bid_price"],
                dph_base=static["dph_base"],
                storage_cost=machine.storage_cost,
                disk=spec["disk"],
                image=spec["image"],
                runtype=spec["runtype"],
                env=spec["env"],
                onstart=spec["onstart"],
                args=spec["args"],
                label=spec["label"],
                api_key=secrets.token_hex(32),
                jupyter_token=secrets.token_hex(32),
                start_date=now,
                template_id=spec["template_id"],
                template_hash_id=spec["template_hash_id"],
                template_name=spec["template_name"],
                image_login=spec["image_login"],
                gpus_held=schedulable,
                ssh_keys=[
                    {"id": k.id, "name": k.name, "public_key": k.public_key}
                    for k in self.ssh_keys.values()
                ],
            )
            inst.volume_links = [self._link_volume(link, machine, now) for link in volume_links]
            self._rotate_slot(machine, size)
            if schedulable:
                machine.free_gpus -= size
                lifecycle.begin_create(inst, now, self.config.boot_seconds)
            else:
                lifecycle.begin_scheduling(inst, now, self.config.boot_seconds)
            self.instances[inst.id] = inst
            self._mark(inst)
            self._refresh(inst)
            return {"success": True, "new_contract": inst.id, "instance_api_key": inst.api_key}

    def _instance_spec(
        self, offer_id: int, body: JSONDict, machine: Machine, static: JSONDict
    ) -> JSONDict:
        def bad(msg: str, error: str = "invalid_args") -> VastError:
            return vast_error(400, error, f"error 400/3467: Invalid args: {msg}", ask_id=offer_id)

        template: Template | None = None
        template_hash = body.get("template_hash_id")
        if template_hash:
            template = self.templates.get(str(template_hash))
            if template is None:
                raise bad(f"template_hash_id {template_hash} does not exist")
        image = body.get("image")
        if image is not None and not isinstance(image, str):
            raise bad("image must be a string")
        if not image and template is not None:
            image = f"{template.image}:{template.tag}" if template.tag else template.image
        if not image:
            raise bad("image is required (or a template_hash_id)")
        if len(image) > 1024:
            raise bad("image is longer than 1024 characters")
        disk_raw = body.get("disk")
        try:
            disk = float(MIN_DISK_GB if disk_raw is None else disk_raw)
        except (TypeError, ValueError):
            raise bad("disk must be a number") from None
        if disk < MIN_DISK_GB:
            raise bad(f"disk must be at least {MIN_DISK_GB:g} GB")
        if disk > static["disk_space"]:
            raise bad(
                f"requested disk {disk:g} GB exceeds the {static['disk_space']:g} GB this offer has"
            )
        price = body.get("price")
        bid_price: float | None = None
        if price is not None:
            try:
                bid_price = float(price)
            except (TypeError, ValueError):
                raise bad("price must be a number", "invalid_price") from None
            if not 0.001 <= bid_price <= 128.0:
                raise bad("price must be between 0.001 and 128.0", "invalid_price")
            if bid_price < static["min_bid"]:
                raise bad(
                    f"bid price ${bid_price:.4f}/hr is below the current minimum bid "
                    f"${static['min_bid']:.4f}/hr",
                    "invalid_price",
                )
        label = body.get("label")
        if label is not None:
            label = str(label)
            if len(label) > 256:
                raise bad("label is longer than 256 characters")
        env_raw = body.get("env")
        env: dict[str, str] = {}
        if template is not None:
            env.update(parse_env(template.env))
        if isinstance(env_raw, str):
            env.update(parse_env(env_raw))
        elif isinstance(env_raw, dict):
            env.update({str(k): "" if v is None else str(v) for k, v in env_raw.items()})
        elif env_raw is not None:
            raise bad("env must be an object or a docker options string")
        runtype = body.get("runtype")
        if runtype is None:
            runtype = template.runtype if template is not None else "ssh"
        if not isinstance(runtype, str) or not runtype.split():
            raise bad("runtype must be a string")
        unknown = [t for t in runtype.split() if t not in RUNTYPE_TOKENS]
        if unknown:
            raise bad(f"unknown runtype {' '.join(unknown)}")
        onstart = body.get("onstart")
        if onstart is None and template is not None:
            onstart = template.onstart
        args = body.get("args")
        if args is not None:
            if not isinstance(args, list):
                raise bad("args must be a list of strings")
            args = [str(a) for a in args]
        if args is None and isinstance(body.get("args_str"), str):
            args = body["args_str"].split()
        if len(onstart or "") + sum(len(a) for a in args or []) > 4096:
            raise bad("onstart and args together exceed 4096 characters")
        return {
            "image": image,
            "disk": disk,
            "is_bid": bid_price is not None,
            "bid_price": bid_price,
            "label": label,
            "env": env,
            "runtype": " ".join(runtype.split()),
            "onstart": onstart,
            "args": args,
            "template_id": template.id if template else None,
            "template_hash_id": template.hash_id if template else None,
            "template_name": template.name if template else None,
            "image_login": body.get("image_login"),
        }

    def _prepare_volumes(
        self, body: JSONDict, env: dict[str, str], machine: Machine, offer_id: int
    ) -> list[JSONDict]:
        """Validate volume_info and `-v V.<id>:<path>` env entries; nothing is created yet."""

        def bad(msg: str) -> VastError:
            return vast_error(
                400, "invalid_args", f"error 400/3467: Invalid args: {msg}", ask_id=offer_id
            )

        links: list[JSONDict] = []
        info = body.get("volume_info")
        if info is not None:
            if not isinstance(info, dict):
                raise bad("volume_info must be an object")
            mount = info.get("mount_path")
            if not isinstance(mount, str) or not mount.startswith("/"):
                raise bad("volume_info.mount_path must be an absolute path")
            try:
                volume_id = int(info.get("volume_id"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise bad("volume_info.volume_id must be an integer") from None
            if info.get("create_new"):
                if self.vol_offer_index.get(volume_id) != machine.machine_id:
                    raise bad(
                        f"volume offer {volume_id} is not on machine {machine.machine_id} "
                        f"of offer {offer_id}"
                    )
                size = _num(info.get("size"), "volume_info.size", default=15.0, minimum=1.0)
                if size > machine.vol_space_free:
                    raise bad(
                        f"volume size {size:g} GB exceeds the free {machine.vol_space_free:g} GB"
                    )
                name = info.get("name")
                if name is not None and not VOLUME_NAME_RE.match(str(name)):
                    raise bad("volume name must be 1-64 letters, digits or underscores")
                links.append({"create": True, "size": size, "name": name, "mount_path": mount})
            else:
                links.append({"volume_id": volume_id, "mount_path": mount})
        for key in env:
            match = re.match(r"^-v V\.(\d+):(/.*)$", key)
            if match:
                links.append({"volume_id": int(match.group(1)), "mount_path": match.group(2)})
        for link in links:
            if link.get("create"):
                continue
            vol = self.volumes.get(int(link["volume_id"]))
            if vol is None:
                raise bad(f"volume {link['volume_id']} does not exist")
            if vol.machine_id != machine.machine_id:
                raise bad(
                    f"volume {vol.id} lives on machine {vol.machine_id}, offer {offer_id} "
                    f"is on machine {machine.machine_id}"
                )
        return links

    def _link_volume(self, link: JSONDict, machine: Machine, now: float) -> JSONDict:
        if link.get("create"):
            vol = self._new_volume(machine, link["size"], link["name"], now)
            return {"id": vol.id, "mount_path": link["mount_path"]}
        return {"id": int(link["volume_id"]), "mount_path": link["mount_path"]}

    def _new_volume(self, machine: Machine, size: float, name: Any, now: float) -> Volume:
        vol = Volume(
            id=self.ids.contract_id(),
            machine_id=machine.machine_id,
            size=float(size),
            label=None if name is None else str(name),
            start_date=now,
            storage_cost=machine.storage_cost,
        )
        machine.vol_space_free = round(machine.vol_space_free - vol.size, 3)
        self.volumes[vol.id] = vol
        return vol

    # --- instances: read -----------------------------------------------------------------------

    def _row(self, inst: Instance) -> JSONDict:
        machine = self.machines[inst.machine_id]
        return instance_view.instance_row(
            inst, machine, self._machine_static(machine, inst.num_gpus), self.volumes, self.now()
        )

    def instance_row(self, inst_id: int) -> JSONDict | None:
        with self.lock:
            inst = self.instances.get(inst_id)
            if inst is None:
                return None
            self._refresh(inst)
            return self._row(inst)

    def instance(self, inst_id: int) -> Instance | None:
        with self.lock:
            inst = self.instances.get(inst_id)
            if inst is not None:
                self._refresh(inst)
            return inst

    def list_instances(self, params: Mapping[str, str]) -> JSONDict:
        """`GET /api/v1/instances/`: select_filters, order_by, limit, after_token, select_cols."""
        filters = _json_param(params, "select_filters", {})
        order_by = _json_param(params, "order_by", [{"col": "id", "dir": "asc"}])
        select_cols = _json_param(params, "select_cols", ["*"])
        if not isinstance(filters, dict):
            raise vast_error(400, "invalid_request", "select_filters must be a JSON object")
        for name in filters:
            if name not in instance_view.INSTANCE_COLUMNS:
                raise vast_error(
                    400,
                    "invalid_request",
                    f"Error in query parameters: {name} is not a valid search key",
                )
        order = _instance_order(order_by)
        try:
            limit = int(params.get("limit", "25"))
        except ValueError:
            raise vast_error(400, "invalid_request", "limit must be an integer") from None
        limit = 5 if limit <= 0 else min(limit, 25)
        if isinstance(select_cols, str):
            select_cols = [select_cols]
        if not isinstance(select_cols, list):
            raise vast_error(400, "invalid_request", "select_cols must be a JSON array")
        try:
            predicates = compile_offer_filters(filters)
        except QueryError as exc:
            raise vast_error(400, "invalid_request", exc.msg) from None
        token = params.get("after_token")
        with self.lock:
            self._refresh_transient()
            cols = []
            for inst in self.instances.values():
                c = instance_view.instance_columns(inst, self.machines[inst.machine_id])
                if all(p(c) for p in predicates):
                    cols.append(c)
            label_counts: dict[str, int] = {}
            for c in cols:
                key = c["label"] if c["label"] is not None else ""
                label_counts[key] = label_counts.get(key, 0) + 1

            def sort_key(c: JSONDict) -> list[Any]:
                return [c.get(col) for col, _ in order]

            dirs = [desc for _, desc in order]
            cols = sort_rows(cols, order)
            start = 0
            if token:
                after = _decode_token(token, [col for col, _ in order])
                start = len(cols)
                for index, c in enumerate(cols):
                    if _cmp_values(sort_key(c), after, dirs) > 0:
                        start = index
                        break
            page = cols[start : start + limit]
            more = start + limit < len(cols)
            rows = [self._row(self.instances[c["id"]]) for c in page]
        if "*" not in select_cols:
            rows = [{col: row.get(col) for col in select_cols} for row in rows]
        next_token = _encode_token(sort_key(page[-1]), [c for c, _ in order]) if more else None
        return {
            "success": True,
            "instances_found": len(rows),
            "total_instances": len(cols),
            "label_counts": label_counts,
            "next_token": next_token,
            "instances": rows,
        }

    def instance_filters(self) -> list[JSONDict]:
        with self.lock:
            self._refresh_transient()
            combos = {
                (
                    i.actual_status,
                    self.machines[i.machine_id].hw["verification"],
                    self.machines[i.machine_id].gpu_name,
                )
                for i in self.instances.values()
            }
        return [
            {"actual_status": a, "verification": v, "gpu_name": g}
            for a, v, g in sorted(combos, key=lambda t: tuple(str(x) for x in t))
        ]

    # --- instances: actions --------------------------------------------------------------------

    def _get_or(self, inst_id: int, error: VastError) -> Instance:
        inst = self.instances.get(inst_id)
        if inst is None:
            raise error
        self._refresh(inst)
        return inst

    def manage_instance(self, inst_id: int, body: JSONDict) -> JSONDict:
        """`PUT /instances/{id}/`: {"state": "running"|"stopped"} and/or {"label": ...}."""
        with self.lock:
            inst = self._get_or(
                inst_id, vast_error(404, "no_such_instance", f"Instance {inst_id} not found.")
            )
            result: JSONDict = {"success": True}
            if "label" in body:
                label = body["label"]
                if label is not None:
                    label = str(label)
                    if len(label) > 1024:
                        raise vast_error(
                            400, "label_too_long", "Label must be at most 1024 characters."
                        )
                inst.label = label
                result["msg"] = f"label for {inst_id} set to '{label}'."
            state = body.get("state", body.get("target_state"))
            if state is not None:
                machine = self.machines[inst.machine_id]
                if state == "running":
                    lifecycle.start(inst, machine, self.now(), self.config.boot_seconds)
                elif state == "stopped":
                    lifecycle.stop(inst, machine, self.now())
                else:
                    raise vast_error(400, "invalid_args", f"Invalid state {state!r}.")
            elif "label" not in body:
                raise vast_error(400, "invalid_args", "Nothing to update: send state or label.")
            self._mark(inst)
            self._refresh(inst)
            return result

    def destroy_instance(self, inst_id: int) -> bool:
        """Destroy; returns False when there was no such instance."""
        with self.lock:
            inst = self.instances.pop(inst_id, None)
            if inst is None:
                return False
            lifecycle.release_gpus(inst, self.machines[inst.machine_id])
            self._transient.discard(inst_id)
            self._touch()
            return True

    def bulk_manage(self, ids: list[Any], state: str) -> JSONDict:
        done = []
        for raw in ids:
            inst_id = _int_id(raw, "instance id")
            try:
                self.manage_instance(inst_id, {"state": state})
                done.append(inst_id)
            except VastError:
                continue
        return {"success": True, "ids": done}

    def reboot_instance(self, inst_id: int) -> JSONDict:
        with self.lock:
            inst = self._get_or(
                inst_id, vast_error(404, "no_such_instance", f"Instance {inst_id} not found.")
            )
            if not inst.gpus_held:
                raise vast_error(400, "invalid_args", f"Instance {inst_id} is not running.")
            lifecycle.reboot(inst, self.now(), self.config.boot_seconds)
            self._mark(inst)
            return {"success": True}

    def recycle_instance(self, inst_id: int) -> JSONDict:
        with self.lock:
            inst = self._get_or(inst_id, vast_error(400, "invalid_id", "Invalid instance id."))
            machine = self.machines[inst.machine_id]
            if not inst.gpus_held:
                if machine.free_gpus < inst.num_gpus:
                    lifecycle.begin_scheduling(inst, self.now(), self.config.boot_seconds)
                    self._mark(inst)
                    return {"success": True}
                machine.free_gpus -= inst.num_gpus
                inst.gpus_held = True
            lifecycle.begin_create(inst, self.now(), self.config.boot_seconds)
            self._mark(inst)
            return {"success": True}

    def change_bid(self, inst_id: int, price: Any) -> JSONDict:
        with self.lock:
            inst = self._get_or(
                inst_id,
                vast_error(404, "no_such_instance", "Instance with that ID does not exist."),
            )
            if not inst.is_bid:
                raise vast_error(
                    400, "invalid_args", f"Instance {inst_id} is not an interruptible instance."
                )
            machine = self.machines[inst.machine_id]
            if price is None:
                new_price = self._machine_static(machine, inst.num_gpus)["min_bid"]
            else:
                try:
                    new_price = float(price)
                except (TypeError, ValueError):
                    raise vast_error(
                        400, "invalid_args", "Please set a bid price >= 0.001."
                    ) from None
                if new_price < 0.001:
                    raise vast_error(400, "invalid_args", "Please set a bid price >= 0.001.")
            inst.bid_price = round(new_price, 6)
            self._touch()
            return {"success": True}

    def _result(self, text: str) -> str:
        token = secrets.token_hex(16)
        self.results[token] = text
        while len(self.results) > MAX_RESULTS:
            self.results.pop(next(iter(self.results)))
        return token

    def request_logs(self, inst_id: int, body: JSONDict) -> str:
        """`PUT /instances/request_logs/{id}/`: returns the result token."""
        with self.lock:
            inst = self._get_or(inst_id, vast_error(404, "invalid_id", "Invalid instance id."))
            lines = [
                f"[vast-sim] instance {inst.id} on machine {inst.machine_id}",
                f"[vast-sim] image {inst.image}, runtype {inst.runtype}",
                f"[vast-sim] actual_status={inst.actual_status} status_msg={inst.status_msg}",
            ]
            if inst.onstart:
                lines.append(f"[vast-sim] onstart: {inst.onstart}")
            if body.get("daemon_logs"):
                lines.append("[vast-sim] daemon: container started")
            pattern = body.get("filter")
            if pattern:
                lines = [line for line in lines if str(pattern) in line]
            tail = body.get("tail")
            if tail and str(tail).isdigit():
                lines = lines[-int(tail) :]
            return self._result("\n".join(lines) + "\n")

    def execute(self, inst_id: int, command: Any) -> str:
        with self.lock:
            inst = self._get_or(
                inst_id, vast_error(400, "invalid_container_id", "Invalid container id.")
            )
            if not isinstance(command, str) or not command.strip():
                raise vast_error(400, "invalid_args", "command is required")
            if len(command) > 512 or command.split()[0] not in ("ls", "rm", "du"):
                raise vast_error(400, "invalid_args", "Only ls, rm and du commands are allowed.")
            if inst.actual_status != "running":
                raise vast_error(400, "invalid_container", f"Instance {inst_id} is not running.")
            output = {
                "ls": "bin\nboot\ndev\netc\nhome\nroot\nworkspace\n",
                "du": "1.2G\t/workspace\n",
            }
            return self._result(output.get(command.split()[0], ""))

    # --- ssh keys --------------------------------------------------------------------------------

    @staticmethod
    def _check_key(key: Any) -> str:
        if not isinstance(key, str) or not key.strip():
            raise vast_error(400, "no_ssh_key", "No ssh key provided")
        public = str(key).strip()
        if "PRIVATE KEY" in public or not public.startswith(SSH_KEY_PREFIXES):
            raise vast_error(400, "invalid_args", "Invalid ssh public key.")
        return public

    def attach_ssh(self, inst_id: int, key: Any) -> JSONDict:
        with self.lock:
            inst = self._get_or(
                inst_id, vast_error(404, "no_such_instance", f"Instance {inst_id} not found.")
            )
            public = self._check_key(key)
            for existing in inst.ssh_keys:
                if existing["public_key"] == public:
                    return {"success": True, "msg": "SSH key already attached to instance."}
            key_id = self._next("ssh_key")
            name = public.split()[2] if len(public.split()) > 2 else None
            inst.ssh_keys = [*inst.ssh_keys, {"id": key_id, "name": name, "public_key": public}]
            self._touch()
            return {"success": True, "msg": "SSH key added to instance."}

    def instance_ssh_keys(self, inst_id: int) -> JSONDict:
        with self.lock:
            inst = self._get_or(
                inst_id, vast_error(404, "no_such_instance", f"Instance {inst_id} not found.")
            )
            return {"success": True, "ssh_keys": json.dumps(inst.ssh_keys)}

    def detach_ssh(self, inst_id: int, key_id: int) -> JSONDict:
        with self.lock:
            inst = self._get_or(
                inst_id, vast_error(404, "no_such_instance", f"Instance {inst_id} not found.")
            )
            remaining = [k for k in inst.ssh_keys if int(k["id"]) != key_id]
            if len(remaining) == len(inst.ssh_keys):
                raise vast_error(
                    404, "no_such_ssh_key", f"SSH key {key_id} is not on instance {inst_id}."
                )
            inst.ssh_keys = remaining
            self._touch()
            return {"success": True, "msg": "SSH key removed from instance."}

    def account_keys(self) -> list[JSONDict]:
        with self.lock:
            return [views.ssh_key_row(k) for k in self.ssh_keys.values()]

    def create_account_key(self, key: Any) -> JSONDict:
        with self.lock:
            public = self._check_key(key)
            for existing in self.ssh_keys.values():
                if existing.public_key == public:
                    raise vast_error(400, "existing_key", "This ssh key already exists.")
            parts = public.split()
            record = SshKey(
                id=self._next("ssh_key"),
                public_key=public,
                created_at=self.now(),
                name=parts[2] if len(parts) > 2 else None,
            )
            self.ssh_keys[record.id] = record
            self._touch()
            return {"success": True, "key": views.ssh_key_row(record)}

    def update_account_key(self, key_id: int, key: Any) -> JSONDict:
        with self.lock:
            record = self.ssh_keys.get(key_id)
            if record is None:
                raise vast_error(404, "no_such_ssh_key", f"No ssh key with id {key_id}.")
            record.public_key = self._check_key(key)
            self._touch()
            return {"success": True, "key": views.ssh_key_row(record)}

    def delete_account_key(self, key_id: int) -> JSONDict:
        with self.lock:
            if self.ssh_keys.pop(key_id, None) is None:
                raise vast_error(404, "no_such_ssh_key", f"No ssh key with id {key_id}.")
            self._touch()
            return {"success": True}

    # --- volumes ------------------------------------------------------------------------------

    def create_volume(self, body: JSONDict) -> JSONDict:
        with self.lock:
            offer_id = _int_id(body.get("id"), "volume offer id")
            machine_id = self.vol_offer_index.get(offer_id)
            machine = self.machines.get(machine_id) if machine_id is not None else None
            if machine is None or not machine.listed:
                raise vast_error(
                    404,
                    "no_such_ask",
                    f"Volume offer {offer_id} is not available.",
                    ask_id=offer_id,
                )
            size = _num(body.get("size"), "size", default=15.0, minimum=1.0)
            if size > machine.vol_space_free:
                raise vast_error(
                    400,
                    "invalid_args",
                    f"Requested size {size:g} GB exceeds the "
                    f"{machine.vol_space_free:g} GB available.",
                )
            name = body.get("name")
            if name is not None and not VOLUME_NAME_RE.match(str(name)):
                raise vast_error(
                    400, "invalid_args", "Volume name must be 1-64 letters, digits or underscores."
                )
            vol = self._new_volume(machine, int(size), name, self.now())
            self._touch()
            return {"success": True, "volume_name": f"V.{vol.id}"}

    def _volume_users(self) -> dict[int, list[int]]:
        users: dict[int, list[int]] = {}
        for inst in self.instances.values():
            for link in inst.volume_links:
                users.setdefault(int(link["id"]), []).append(inst.id)
        return users

    def list_volumes(self, volume_type: str | None) -> list[JSONDict]:
        with self.lock:
            if volume_type == "network_volume":
                return []
            users = self._volume_users()
            now = self.now()
            return [
                views.volume_row(v, self.machines[v.machine_id], sorted(users.get(v.id, [])), now)
                for v in self.volumes.values()
            ]

    def delete_volume(self, raw_id: Any) -> JSONDict:
        with self.lock:
            if raw_id in (None, ""):
                raise vast_error(400, "invalid_args", "Please provide a valid volume ID.")
            try:
                vol_id = int(str(raw_id).removeprefix("V."))
            except ValueError:
                raise vast_error(400, "invalid_args", "Please provide a valid volume ID.") from None
            vol = self.volumes.get(vol_id)
            if vol is None:
                raise vast_error(404, "no_such_volume", "Volume with that ID does not exist.")
            users = self._volume_users().get(vol_id)
            if users:
                raise vast_error(
                    400,
                    "volume_in_use",
                    f"Volume {vol_id} is in use by instance(s) {', '.join(map(str, users))}; "
                    "destroy them first.",
                )
            machine = self.machines[vol.machine_id]
            machine.vol_space_free = round(
                min(machine.vol_space_total, machine.vol_space_free + vol.size), 3
            )
            del self.volumes[vol_id]
            self._touch()
            return {"success": True}

    # --- endpoints and workergroups ----------------------------------------------------------

    def create_endpoint(self, body: JSONDict) -> JSONDict:
        with self.lock:
            name = body.get("endpoint_name")
            if name is not None:
                name = str(name)
                if not ENDPOINT_NAME_RE.match(name):
                    raise vast_error(
                        400,
                        "invalid_args",
                        "endpoint_name may only contain letters, digits, '_' and '-'.",
                    )
                if any(e.endpoint_name == name for e in self.endpoints.values()):
                    raise vast_error(
                        400, "invalid_args", f"Endpoint name {name} is already in use."
                    )
            ep = Endpoint(
                id=self._next("endpoint"),
                endpoint_name=name,
                endpoint_state="active",
                min_load=_num(body.get("min_load"), "min_load", default=0.0),
                min_cold_load=_num(body.get("min_cold_load"), "min_cold_load", default=0.0),
                target_util=_num(body.get("target_util"), "target_util", default=0.9),
                cold_mult=_num(body.get("cold_mult"), "cold_mult", default=2.5),
                cold_workers=int(_num(body.get("cold_workers"), "cold_workers", default=5)),
                max_workers=int(_num(body.get("max_workers"), "max_workers", default=20)),
                max_queue_time=_opt_num(body.get("max_queue_time"), "max_queue_time", 30.0),
                target_queue_time=_opt_num(
                    body.get("target_queue_time"), "target_queue_time", 10.0
                ),
                inactivity_timeout=_opt_int(body.get("inactivity_timeout"), "inactivity_timeout"),
                api_key=secrets.token_hex(32),
                created_at=self.now(),
                autoscaler_instance=str(body.get("autoscaler_instance") or "prod"),
            )
            if ep.target_util > 1.0:
                raise vast_error(400, "invalid_args", "target_util must be at most 1.0")
            if ep.endpoint_name is None:
                ep.endpoint_name = f"endpoint_{ep.id}"
            self.endpoints[ep.id] = ep
            self._touch()
            return {"success": True, "result": ep.id}

    def list_endpoints(self) -> list[JSONDict]:
        with self.lock:
            return [views.endpoint_row(e) for e in self.endpoints.values()]

    def endpoint_row(self, ep_id: int) -> JSONDict | None:
        with self.lock:
            ep = self.endpoints.get(ep_id)
            return views.endpoint_row(ep) if ep else None

    def update_endpoint(self, ep_id: int, body: JSONDict) -> JSONDict:
        with self.lock:
            ep = self.endpoints.get(ep_id)
            if ep is None:
                raise vast_error(400, "invalid_args", "Endpointgroup not found for user")
            float_fields = ("min_load", "min_cold_load", "target_util", "cold_mult")
            for key in float_fields:
                if body.get(key) is not None:
                    setattr(ep, key, _num(body[key], key))
            for key in ("cold_workers", "max_workers"):
                if body.get(key) is not None:
                    setattr(ep, key, int(_num(body[key], key)))
            for key in ("max_queue_time", "target_queue_time"):
                if body.get(key) is not None:
                    setattr(ep, key, _num(body[key], key))
            if body.get("inactivity_timeout") is not None:
                ep.inactivity_timeout = int(_num(body["inactivity_timeout"], "inactivity_timeout"))
            if body.get("endpoint_state") is not None:
                state = str(body["endpoint_state"])
                if state not in ("active", "suspended", "stopped"):
                    raise vast_error(
                        400, "invalid_args", "endpoint_state must be active, suspended or stopped"
                    )
                ep.endpoint_state = state
            if body.get("endpoint_name") is not None:
                name = str(body["endpoint_name"])
                if not ENDPOINT_NAME_RE.match(name):
                    raise vast_error(
                        400,
                        "invalid_args",
                        "endpoint_name may only contain letters, digits, '_' and '-'.",
                    )
                if any(e.endpoint_name == name and e.id != ep_id for e in self.endpoints.values()):
                    raise vast_error(
                        400, "invalid_args", f"Endpoint name {name} is already in use."
                    )
                ep.endpoint_name = name
                for wg in self.workergroups.values():
                    if wg.endpoint_id == ep_id:
                        wg.endpoint_name = name
            self._touch()
            return {"success": True}

    def delete_endpoint(self, ep_id: int) -> JSONDict:
        with self.lock:
            if self.endpoints.pop(ep_id, None) is None:
                raise vast_error(400, None, "Routegroup not found for user")
            for wg_id in [w.id for w in self.workergroups.values() if w.endpoint_id == ep_id]:
                del self.workergroups[wg_id]
            self._touch()
            return {
                "success": True,
                "deleted_workers": [],
                "failed_workers": [],
                "msg": "Deleted endpoint job and 0 workers",
            }

    def _resolve_endpoint(self, body: JSONDict) -> Endpoint | None:
        ep_id = body.get("endpoint_id")
        if ep_id is not None:
            try:
                return self.endpoints.get(int(ep_id))
            except (TypeError, ValueError):
                return None
        name = body.get("endpoint_name")
        if name is not None:
            for ep in self.endpoints.values():
                if ep.endpoint_name == str(name):
                    return ep
        return None

    def _template_for(self, body: JSONDict) -> Template | None:
        template_hash = body.get("template_hash")
        template_id = body.get("template_id")
        if template_hash:
            found = self.templates.get(str(template_hash))
            if found is None:
                raise vast_error(400, "invalid_args", f"Template {template_hash} not found.")
            return found
        if template_id is not None:
            for t in self.templates.values():
                if str(t.id) == str(template_id):
                    return t
            raise vast_error(400, "invalid_args", f"Template {template_id} not found.")
        return None

    @staticmethod
    def _search_query(search_params: Any) -> JSONDict:
        if search_params is None or search_params == "":
            return {}
        if isinstance(search_params, dict):
            return dict(search_params)
        if isinstance(search_params, str):
            try:
                return parse_cli_query(search_params)
            except QueryError as exc:
                raise vast_error(400, "invalid_args", exc.msg) from None
        raise vast_error(400, "invalid_args", "search_params must be a query string or object")

    def create_workergroup(self, body: JSONDict) -> JSONDict:
        with self.lock:
            ep = self._resolve_endpoint(body)
            if ep is None:
                raise vast_error(
                    400,
                    "invalid_args",
                    "Please assign your workergroup to a valid endpoint identifier",
                )
            template = self._template_for(body)
            launch_args = body.get("launch_args")
            if template is None and "--image" not in str(launch_args or ""):
                raise vast_error(
                    400,
                    "invalid_args",
                    "Please provide a template_hash or template_id (or --image in launch_args).",
                )
            wg = Workergroup(
                id=self._next("workergroup"),
                endpoint_id=ep.id,
                endpoint_name=ep.endpoint_name,
                template_hash=template.hash_id if template else None,
                template_id=template.id if template else None,
                search_params=body.get("search_params"),
                search_query=self._search_query(body.get("search_params")),
                launch_args=None if launch_args is None else str(launch_args),
                gpu_ram=_num(body.get("gpu_ram"), "gpu_ram", default=24.0),
                min_load=_num(body.get("min_load"), "min_load", default=1.0),
                min_cold_load=_num(body.get("min_cold_load"), "min_cold_load", default=0.0),
                target_util=_num(body.get("target_util"), "target_util", default=0.9),
                cold_mult=_num(body.get("cold_mult"), "cold_mult", default=3.0),
                cold_workers=int(_num(body.get("cold_workers"), "cold_workers", default=3)),
                test_workers=int(_num(body.get("test_workers"), "test_workers", default=3)),
                max_workers=int(_num(body.get("max_workers"), "max_workers", default=20)),
                created_at=self.now(),
                autoscaler_instance=str(body.get("autoscaler_instance") or "prod"),
            )
            self.workergroups[wg.id] = wg
            self._touch()
            return {"success": True, "id": wg.id}

    def list_workergroups(self) -> list[JSONDict]:
        with self.lock:
            return [
                views.workergroup_row(
                    w,
                    self.endpoints[w.endpoint_id].api_key
                    if w.endpoint_id in self.endpoints
                    else None,
                )
                for w in self.workergroups.values()
            ]

    def update_workergroup(self, wg_id: int, body: JSONDict) -> JSONDict:
        with self.lock:
            wg = self.workergroups.get(wg_id)
            if wg is None:
                raise vast_error(400, None, "Workgroup not found for user")
            if body.get("endpoint_id") is not None or body.get("endpoint_name") is not None:
                ep = self._resolve_endpoint(body)
                if ep is None:
                    raise vast_error(
                        400,
                        "invalid_args",
                        "Please assign your workergroup to a valid endpoint identifier",
                    )
                wg.endpoint_id, wg.endpoint_name = ep.id, ep.endpoint_name
            if body.get("template_hash") or body.get("template_id") is not None:
                template = self._template_for(body)
                if template is not None:
                    wg.template_hash, wg.template_id = template.hash_id, template.id
            if body.get("search_params") is not None:
                wg.search_query = self._search_query(body["search_params"])
                wg.search_params = body["search_params"]
            if body.get("launch_args") is not None:
                wg.launch_args = str(body["launch_args"])
            for key in ("gpu_ram", "min_load", "min_cold_load", "target_util", "cold_mult"):
                if body.get(key) is not None:
                    setattr(wg, key, _num(body[key], key))
            for key in ("cold_workers", "test_workers", "max_workers"):
                if body.get(key) is not None:
                    setattr(wg, key, int(_num(body[key], key)))
            self._touch()
            return {"success": True}

    def delete_workergroup(self, wg_id: int) -> JSONDict:
        with self.lock:
            if self.workergroups.pop(wg_id, None) is None:
                raise vast_error(
                    404,
                    "no_such_workergroup",
                    "No workergroup by that id is available.",
                    id=wg_id,
                )
            self._touch()
            return {
                "success": True,
                "deleted_workers": [],
                "failed_workers": [],
                "msg": "Deleted workergroup and 0 workers",
            }

    def endpoint_by_name(self, name: str) -> Endpoint | None:
        with self.lock:
            for ep in self.endpoints.values():
                if ep.endpoint_name == name:
                    return ep
            return None

    # --- templates, secrets, user ---------------------------------------------------------------

    def _add_template(self, spec: JSONDict, created_at: float) -> Template:
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
        )
        self.templates[template.hash_id] = template
        return template

    def search_templates(self, select_filters: Any) -> list[JSONDict]:
        if not isinstance(select_filters, dict):
            raise vast_error(400, "invalid_args", "select_filters must be a JSON object")
        try:
            predicates = compile_offer_filters(select_filters)
        except QueryError as exc:
            raise vast_error(400, "invalid_request", exc.msg) from None
        with self.lock:
            rows = [views.template_row(t) for t in self.templates.values()]
        return filter_rows(rows, predicates)

    def create_template(self, body: JSONDict) -> JSONDict:
        with self.lock:
            if not body.get("image"):
                raise vast_error(400, "invalid_args", "image is required")
            runtype = body.get("runtype") or "ssh"
            extra_keys = (
                "href",
                "repo",
                "jupyter_dir",
                "use_jupyter_lab",
                "docker_login_repo",
                "extra_filters",
                "recommended_disk_space",
                "readme",
                "readme_visible",
                "desc",
                "private",
            )
            spec = {
                "name": body.get("name") or body.get("image"),
                "image": body.get("image"),
                "tag": body.get("tag"),
                "env": body.get("env") or "",
                "onstart": body.get("onstart"),
                "runtype": runtype,
                "extra": {k: body[k] for k in extra_keys if k in body},
            }
            template = self._add_template(spec, self.now())
            self._touch()
            return {
                "success": True,
                "msg": f"Template Created Successfully! New Template ID: {template.id}",
                "template": views.template_row(template),
            }

    def edit_template(self, body: JSONDict) -> JSONDict:
        with self.lock:
            old = self.templates.get(str(body.get("hash_id")))
            if old is None:
                raise vast_error(404, "not_found", "Template not found.")
            spec = {
                "name": body.get("name") or old.name,
                "image": body.get("image") or old.image,
                "tag": body.get("tag") if body.get("tag") is not None else old.tag,
                "env": body.get("env") if body.get("env") is not None else old.env,
                "onstart": body.get("onstart") if body.get("onstart") is not None else old.onstart,
                "runtype": body.get("runtype") or old.runtype,
                "extra": old.extra,
            }
            del self.templates[old.hash_id]
            template = self._add_template(spec, old.created_at)
            self._touch()
            return {"success": True, "template": views.template_row(template)}

    def delete_template(self, body: JSONDict) -> JSONDict:
        with self.lock:
            target: Template | None = None
            if body.get("hash_id"):
                target = self.templates.get(str(body["hash_id"]))
            elif body.get("template_id") is not None:
                for t in self.templates.values():
                    if str(t.id) == str(body["template_id"]):
                        target = t
            if target is None:
                raise vast_error(404, "not_found", "Template not found.")
            del self.templates[target.hash_id]
            self._touch()
            return {"success": True, "msg": "Template deleted."}

    def list_secrets(self) -> JSONDict:
        with self.lock:
            return {"success": True, "secrets": dict(self.secrets)}

    def set_secret(self, body: JSONDict, *, create: bool) -> JSONDict:
        with self.lock:
            key, value = body.get("key"), body.get("value")
            if not key or value is None:
                raise vast_error(400, "missing_input", "Both key and value are required.")
            name = str(key).upper()
            if create:
                if name in self.secrets:
                    raise vast_error(
                        400, "existing_key", f"Environment variable {name} already exists."
                    )
                if len(self.secrets) >= 100:
                    raise vast_error(
                        400, "max_secrets", "You have reached the maximum number of secrets."
                    )
            elif name not in self.secrets:
                raise vast_error(404, "not_found", f"Environment variable {name} not found.")
            self.secrets[name] = str(value)
            self._touch()
            verb = "added" if create else "updated"
            return {"success": True, "msg": f"Environment variable {verb} successfully"}

    def delete_secret(self, body: JSONDict) -> JSONDict:
        with self.lock:
            name = str(body.get("key") or "").upper()
            if not name:
                raise vast_error(400, "missing_input", "key is required.")
            if self.secrets.pop(name, None) is None:
                raise vast_error(404, "not_found", f"Environment variable {name} not found.")
            self._touch()
            return {"success": True, "msg": "Environment variable deleted successfully"}

    def user(self) -> JSONDict:
        with self.lock:
            credit = round(self.credit, 2)
            keys = list(self.ssh_keys.values())
        return {
            "id": views.USER_ID,
            "user": "simuser",
            "username": "simuser",
            "email": "simuser@example.com",
            "fullname": "Vast Simulator",
            "credit": credit,
            "balance": 0.0,
            "balance_threshold": 0.0,
            "balance_threshold_enabled": False,
            "billaddress_city": None,
            "billaddress_country": None,
            "billaddress_line1": None,
            "billaddress_line2": None,
            "billaddress_zip": None,
            "billed_expected": 0.0,
            "billed_verified": 0.0,
            "billing_creditonly": 0,
            "can_pay": True,
            "email_verified": True,
            "got_signup_credit": True,
            "has_billing": True,
            "has_payout": False,
            "host_agreement_accepted": False,
            "last4": "4242",
            "paid_expected": 0.0,
            "paid_verified": 0.0,
            "password_resettable": True,
            "paypal_email": None,
            "ssh_key": keys[0].public_key if keys else None,
            "key_id": 1,
            "sid": None,
            "api_key": self.config.api_key,
        }

    # --- admin -----------------------------------------------------------------------------------

    def set_credit(self, credit: float) -> None:
        with self.lock:
            self.credit = float(credit)
            self._touch()

    def force_status(self, inst_id: int, actual: str | None, msg: str | None) -> JSONDict:
        with self.lock:
            inst = self.instances.get(inst_id)
            if inst is None:
                raise vast_error(404, "no_such_instance", f"Instance {inst_id} not found.")
            self._refresh(inst)
            machine = self.machines[inst.machine_id]
            if actual == "stopped":
                lifecycle.stop(inst, machine, self.now())
                inst.intended_status = "running"
                inst.next_state = "running"
                inst.status_msg = msg
            else:
                lifecycle.force_status(inst, actual, msg, self.now())
            self._mark(inst)
            return self._row(inst)

    def set_machine_flag(self, machine_id: int, flag: str, enabled: bool) -> JSONDict:
        with self.lock:
            machine = self.machines.get(machine_id)
            if machine is None:
                raise vast_error(404, "not_found", f"No machine {machine_id}.")
            setattr(machine, flag, enabled)
            self._touch()
            return {
                "machine_id": machine_id,
                "never_boot": machine.never_boot,
                "oci_error": machine.oci_error,
                "listed": machine.listed,
            }

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
                "credit": self.credit,
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
                "secrets": dict(self.secrets),
                "endpoints": [_shallow(e) for e in self.endpoints.values()],
                "workergroups": [_shallow(w) for w in self.workergroups.values()],
            }

    def load_dict(self, data: JSONDict) -> None:
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"not a vast-sim state file (format {data.get('format')!r})")
        with self.lock:
            self.seed = int(data["seed"])
            self.num_machines = int(data["num_machines"])
            self.clock_offset = float(data.get("clock_offset", 0.0))
            self.credit = float(data.get("credit", self.config.credit))
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
            self.secrets = dict(data.get("secrets", {}))
            self.endpoints = {
                e.id: e for e in (record_from_dict(Endpoint, x) for x in data["endpoints"])
            }
            self.workergroups = {
                w.id: w for w in (record_from_dict(Workergroup, x) for x in data["workergroups"])
            }
            self._reindex()
            self._touch()

    def dump(self) -> JSONDict:
        """`GET /_sim/state`: the persisted world plus a few derived views."""
        with self.lock:
            data = self.to_dict()
            data["now"] = self.now()
            data["free_gpus"] = sum(m.free_gpus for m in self.machines.values() if m.listed)
            data["available_offers"] = sum(
                1
                for m in self.machines.values()
                if m.listed
                for size in m.slots
                if int(size) <= m.free_gpus
            )
            dumped: JSONDict = json.loads(json.dumps(data))
            return dumped


# --- helpers -----------------------------------------------------------------------------------


def _opt_num(value: Any, name: str, default: float | None) -> float | None:
    return default if value is None else _num(value, name)


def _opt_int(value: Any, name: str) -> int | None:
    return None if value is None else int(_num(value, name))


def _json_param(params: Mapping[str, str], name: str, default: Any) -> Any:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        if name == "select_cols":
            return [c.strip() for c in raw.split(",") if c.strip()]
        raise vast_error(400, "invalid_request", f"{name} must be valid JSON") from None


def _instance_order(order_by: Any) -> list[tuple[str, bool]]:
    if isinstance(order_by, dict):
        order_by = [order_by]
    if not isinstance(order_by, list):
        raise vast_error(400, "invalid_request", "order_by must be a JSON array")
    order: list[tuple[str, bool]] = []
    for item in order_by:
        if isinstance(item, dict):
            col, direction = item.get("col"), str(item.get("dir") or "asc").lower()
        elif isinstance(item, (list, tuple)) and item:
            col, direction = item[0], str(item[1] if len(item) > 1 else "asc").lower()
        else:
            raise vast_error(400, "invalid_request", "order_by entries need a col")
        if col not in instance_view.INSTANCE_COLUMNS:
            raise vast_error(
                400, "invalid_request", f"Error in query parameters: {col} is not a valid order key"
            )
        if col not in (c for c, _ in order):
            order.append((str(col), direction == "desc"))
    if "id" not in (c for c, _ in order):
        order.append(("id", False))
    return order


def _cmp_values(a: list[Any], b: list[Any], descending: list[bool]) -> int:
    for left, right, desc in zip(a, b, descending, strict=False):
        if left == right:
            continue
        if left is None:
            return 1
        if right is None:
            return -1
        try:
            less = left < right
        except TypeError:
            less = str(left) < str(right)
        result = -1 if less else 1
        return -result if desc else result
    return 0


def _encode_token(values: list[Any], cols: list[str]) -> str:
    payload = json.dumps({"values": values, "cols": cols}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_token(token: str, cols: list[str]) -> list[Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        values = data["values"]
        if data.get("cols") != cols or not isinstance(values, list) or len(values) != len(cols):
            raise ValueError("token does not match this ordering")
        return list(values)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise vast_error(400, "invalid_token", "Invalid after_token.") from None
