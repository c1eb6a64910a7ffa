"""Pydantic models of what Vast sends and what we send to Vast.

Response models are tolerant, because the API is (vast-api.md §4.6, §6.3, §12): unknown fields
are kept (`model_extra`) but never shown in `repr`; numbers sent as strings are coerced; a field
whose value has an unexpected type becomes None instead of failing the whole row; `-1` port
numbers mean "none"; `public_ipaddr` is stripped. Secrets that Vast returns (endpoint and user
API keys, the per-instance key, Jupyter tokens) are `SecretStr` and excluded from `repr`.

Request models serialise exactly like the official CLI (`to_body()`), see vast-api.md §5.1, §9.2,
§10.1 and §10.2.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)

__all__ = [
    "CreateInstanceRequest",
    "CreateInstanceResult",
    "CreatedVolume",
    "Endpoint",
    "EndpointSpec",
    "Instance",
    "InstanceSshKey",
    "Offer",
    "PortBinding",
    "PortSpec",
    "Runtype",
    "User",
    "Volume",
    "VolumeMount",
    "VolumeOffer",
    "Workergroup",
    "WorkergroupRequest",
    "build_env",
]


# --- tolerant field types ---------------------------------------------------------------------


def _none_on_error(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate normally; a value of the wrong shape becomes None instead of an error."""
    if value == "" or value is None:
        return None
    try:
        return handler(value)
    except ValidationError:
        return None


def _minus_one_is_none(value: Any) -> Any:
    if value in (-1, "-1", -1.0):
        return None
    return value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


_Lenient = WrapValidator(_none_on_error)
OptInt = Annotated[int | None, _Lenient]
OptFloat = Annotated[float | None, _Lenient]
OptStr = Annotated[str | None, _Lenient]
OptBool = Annotated[bool | None, _Lenient]
OptPort = Annotated[int | None, _Lenient, BeforeValidator(_minus_one_is_none)]
StrippedStr = Annotated[str | None, _Lenient, BeforeValidator(_strip)]
OptSecret = Annotated[SecretStr | None, _Lenient]


class VastModel(BaseModel):
    """Base of response models: tolerant input, `repr` limited to declared, non-secret fields."""

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        coerce_numbers_to_str=True,
        frozen=False,
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if info.repr and value is not None:
                yield name, value


# --- offers -----------------------------------------------------------------------------------

_COUNTRY_CODE = re.compile(r"(?:^|[,\s])([A-Z]{2})\s*$")


def country_code(geolocation: str | None) -> str | None:
    """The two-letter country code at the end of a Vast geolocation (`"Washington, US"`)."""
    if not geolocation:
        return None
    match = _COUNTRY_CODE.search(geolocation.strip())
    return match.group(1) if match else None


class Offer(VastModel):
    """One row of `POST /api/v0/bundles/` (vast-api.md §4.6). Rent it with its `id`."""

    id: int
    ask_contract_id: OptInt = None
    bundle_id: OptInt = None
    machine_id: OptInt = None
    host_id: OptInt = None
    cluster_id: OptInt = None
    gpu_name: OptStr = None
    num_gpus: OptInt = None
    gpu_ram: OptFloat = Field(default=None, description="MB per GPU")
    gpu_total_ram: OptFloat = Field(default=None, description="MB")
    gpu_arch: OptStr = None
    compute_cap: OptInt = None
    cuda_max_good: OptFloat = None
    driver_version: OptStr = None
    total_flops: OptFloat = None
    dlperf: OptFloat = None
    cpu_name: OptStr = None
    cpu_cores: OptInt = None
    cpu_cores_effective: OptFloat = None
    cpu_ram: OptFloat = Field(default=None, description="MB")
    cpu_arch: OptStr = None
    disk_space: OptFloat = Field(default=None, description="GB")
    disk_bw: OptFloat = None
    inet_up: OptFloat = Field(default=None, description="Mb/s")
    inet_down: OptFloat = Field(default=None, description="Mb/s")
    direct_port_count: OptInt = None
    public_ipaddr: StrippedStr = None
    static_ip: OptBool = None
    geolocation: OptStr = None
    dph_base: OptFloat = None
    dph_total: OptFloat = Field(default=None, description="$/h including allocated storage")
    min_bid: OptFloat = None
    storage_cost: OptFloat = Field(default=None, description="$/GB/month")
    score: OptFloat = None
    reliability: OptFloat = None
    reliability2: OptFloat = None
    verified: OptBool = None
    verification: OptStr = None
    rentable: OptBool = None
    rented: OptBool = None
    external: OptBool = None
    is_bid: OptBool = None
    hosting_type: OptStr = None
    start_date: OptFloat = None
    end_date: OptFloat = None
    duration: OptFloat = None

    @property
    def country_code(self) -> str | None:
        return country_code(self.geolocation)

    @property
    def is_verified(self) -> bool | None:
        """`verified` when Vast sends it, otherwise derived from `verification`."""
        if self.verified is not None:
            return self.verified
        if self.verification is None:
            return None
        return self.verification == "verified"


class VolumeOffer(VastModel):
    """One row of `POST /api/v0/volumes/search/` (vast-api.md §9.1)."""

    id: int
    ask_contract_id: OptInt = None
    bundle_id: OptInt = None
    machine_id: OptInt = None
    host_id: OptInt = None
    cluster_id: OptInt = None
    disk_space: OptFloat = Field(default=None, description="max GB available")
    disk_name: OptStr = None
    disk_bw: OptFloat = None
    storage_cost: OptFloat = Field(default=None, description="$/GB/month")
    cuda_max_good: OptFloat = None
    driver_version: OptStr = None
    inet_up: OptFloat = None
    inet_down: OptFloat = None
    reliability: OptFloat = None
    geolocation: OptStr = None
    verification: OptStr = None
    verified: OptBool = None
    duration: OptFloat = None
    end_date: OptFloat = None


# --- instances --------------------------------------------------------------------------------


class PortBinding(VastModel):
    """One docker-style port binding; Vast sends `HostPort` as a string."""

    host_ip: StrippedStr = Field(default=None, alias="HostIp")
    host_port: OptInt = Field(default=None, alias="HostPort")


def _ports_or_none(value: Any) -> Any:
    """`ports` is a dict on running instances; the v0 docs show an int list (ignore it)."""
    return value if isinstance(value, dict) else None


def _pairs_to_list(value: Any) -> Any:
    """`extra_env` is a list of [key, value] pairs; the CLI turns it into a dict. Accept both."""
    if isinstance(value, dict):
        return [[str(k), "" if v is None else str(v)] for k, v in value.items()]
    if isinstance(value, list):
        return [
            [str(item[0]), "" if item[1] is None else str(item[1])]
            for item in value
            if isinstance(item, list | tuple) and len(item) == 2
        ]
    return None


class Instance(VastModel):
    """An instance row from `GET /api/v1/instances/` or `GET /api/v0/instances/{id}/` (§6.3)."""

    id: int
    machine_id: OptInt = None
    host_id: OptInt = None
    bundle_id: OptInt = None
    actual_status: OptStr = None
    intended_status: OptStr = None
    cur_state: OptStr = None
    next_state: OptStr = None
    status_msg: OptStr = None
    label: OptStr = None
    ssh_host: StrippedStr = None
    ssh_port: OptInt = None
    ssh_idx: OptStr = None
    public_ipaddr: StrippedStr = None
    ports: Annotated[
        dict[str, list[PortBinding] | None] | None, _Lenient, BeforeValidator(_ports_or_none)
    ] = None
    direct_port_count: OptInt = None
    direct_port_start: OptPort = None
    direct_port_end: OptPort = None
    machine_dir_ssh_port: OptPort = None
    gpu_name: OptStr = None
    num_gpus: OptInt = None
    gpu_ram: OptFloat = None
    disk_space: OptFloat = None
    geolocation: OptStr = None
    verification: OptStr = None
    dph_base: OptFloat = None
    dph_total: OptFloat = None
    storage_cost: OptFloat = None
    is_bid: OptBool = None
    min_bid: OptFloat = None
    image_uuid: OptStr = None
    image_runtype: OptStr = None
    image_args: Annotated[list[str] | None, _Lenient] = None
    template_hash_id: OptStr = None
    onstart: OptStr = None
    extra_env: Annotated[list[list[str]] | None, _Lenient, BeforeValidator(_pairs_to_list)] = Field(
        default=None, repr=False
    )
    jupyter_token: OptSecret = Field(default=None, repr=False)
    start_date: OptFloat = None
    end_date: OptFloat = None
    volume_info: Annotated[list[dict[str, Any]] | None, _Lenient] = None

    @property
    def env(self) -> dict[str, str]:
        """`extra_env` as a dict (later pairs win, like the CLI's conversion)."""
        return {key: value for key, value in self.extra_env or []}

    def host_port(self, internal: int, proto: str = "tcp") -> int | None:
        """The public port that maps to `internal`/`proto`, or None when not (yet) mapped."""
        bindings = (self.ports or {}).get(f"{internal}/{proto}") or []
        for binding in bindings:
            if binding.host_port is not None:
                return binding.host_port
        return None


class InstanceSshKey(VastModel):
    """A key attached to an instance (`GET /api/v0/instances/{id}/ssh/`, §8)."""

    id: int
    name: OptStr = None
    public_key: OptStr = None


# --- create instance --------------------------------------------------------------------------

Runtype = Literal[
    "ssh",
    "jupyter",
    "args",
    "ssh_proxy",
    "ssh_direc ssh_proxy",
    "jupyter_proxy ssh_proxy",
    "jupyter_direc ssh_direc ssh_proxy",
    "ssh_direct",
    "jupyter_direct",
    "jupyter_proxy",
]

_PORT_KEY_CHARS = re.compile(r"^[0-9:tcpudp/]+$")
_VOLUME_PATH = re.compile(r"^/[A-Za-z0-9./_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PortSpec(BaseModel):
    """An internal port to expose; Vast maps it to a random public port (§5.2)."""

    model_config = ConfigDict(frozen=True)

    port: int = Field(ge=1, le=99999)
    proto: Literal["tcp", "udp"] = "tcp"

    def env_key(self) -> str:
        suffix = "" if self.proto == "tcp" else f"/{self.proto}"
        key = f"-p {self.port}:{self.port}{suffix}"
        if not _PORT_KEY_CHARS.match(key[3:]):
            raise ValueError(f"invalid port mapping {key!r}")
        return key


class VolumeMount(BaseModel):
    """Mount an existing local volume (id from `GET /volumes`) at `path` (§5.2, §9.4)."""

    model_config = ConfigDict(frozen=True)

    volume_id: int = Field(ge=1)
    path: str

    @field_validator("path")
    @classmethod
    def _linux_path(cls, value: str) -> str:
        if not _VOLUME_PATH.match(value):
            raise ValueError("mount path must be absolute and use only [A-Za-z0-9./_]")
        return value

    def env_key(self) -> str:
        return f"-v V.{self.volume_id}:{self.path}"


def build_env(
    variables: Mapping[str, str] | None = None,
    *,
    ports: Iterable[PortSpec | int] = (),
    volumes: Iterable[VolumeMount] = (),
) -> dict[str, str]:
    """Build the create body's `env` dict from structured inputs, as the CLI's `parse_env` does.

    Plain variables map to their values; each port becomes `"-p P:P": "1"` (`/udp` suffix for
    UDP); each volume mount becomes `"-v V.<id>:<path>": "1"` (vast-api.md §5.2).
    """
    env: dict[str, str] = {}
    for name, value in (variables or {}).items():
        if not _ENV_NAME.match(name):
            raise ValueError(f"invalid environment variable name {name!r}")
        env[name] = value
    for port in ports:
        spec = port if isinstance(port, PortSpec) else PortSpec(port=port)
        env[spec.env_key()] = "1"
    for mount in volumes:
        env[mount.env_key()] = "1"
    return env


class CreateInstanceRequest(BaseModel):
    """Body of `PUT /api/v0/asks/{offer_id}/` (vast-api.md §5.1).

    `price` None rents on-demand; a price makes it an interruptible bid in $/h. `env` is the dict
    form (use `build_env`); `volume_info` is §9.4's object. `to_body()` sends every key the CLI
    always sends, plus `runtype` (defaulted like the CLI when no template is given), `args`,
    `volume_info` and `target_state` only when set.
    """

    model_config = ConfigDict(extra="forbid")

    image: str | None = Field(default=None, max_length=1024)
    disk: float = Field(default=10.0, gt=0)
    env: dict[str, str] = Field(default_factory=dict, repr=False)
    onstart: str | None = None
    runtype: Runtype | None = None
    args: list[str] | None = None
    label: str | None = Field(default=None, max_length=256)
    price: float | None = Field(default=None, ge=0.001, le=128.0)
    template_hash_id: str | None = None
    image_login: SecretStr | None = Field(default=None, repr=False)
    volume_info: dict[str, Any] | None = None
    cancel_unavail: bool = False
    target_state: Literal["running", "stopped"] | None = None
    extra: str | None = None
    user: str | None = None
    jupyter_dir: str | None = None
    use_jupyter_lab: bool = False
    python_utf8: bool = False
    lang_utf8: bool = False
    force: bool = False
    client_id: str = "me"

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "client_id": self.client_id,
            "image": self.image,
            "env": dict(self.env),
            "price": self.price,
            "disk": self.disk,
            "label": self.label,
            "extra": self.extra,
            "onstart": self.onstart,
            "image_login": (
                None if self.image_login is None else self.image_login.get_secret_value()
            ),
            "python_utf8": self.python_utf8,
            "lang_utf8": self.lang_utf8,
            "use_jupyter_lab": self.use_jupyter_lab,
            "jupyter_dir": self.jupyter_dir,
            "force": self.force,
            "cancel_unavail": self.cancel_unavail,
            "template_hash_id": self.template_hash_id,
            "user": self.user,
        }
        if self.runtype is not None:
            body["runtype"] = self.runtype
        elif self.template_hash_id is None:
            body["runtype"] = "args" if self.args is not None else "ssh"
        if self.args is not None:
            body["args"] = list(self.args)
        if self.volume_info is not None:
            body["volume_info"] = dict(self.volume_info)
        if self.target_state is not None:
            body["target_state"] = self.target_state
        return body


class CreateInstanceResult(VastModel):
    """Answer of a rent: `new_contract` is the instance id (vast-api.md §5.4)."""

    new_contract: int
    success: OptBool = None
    ask_id: OptInt = None
    instance_api_key: OptSecret = Field(default=None, repr=False)

    @property
    def instance_id(self) -> int:
        return self.new_contract


# --- volumes ----------------------------------------------------------------------------------

_VOLUME_NAME_ID = re.compile(r"^V\.(\d+)$")


class Volume(VastModel):
    """A row of `GET /api/v0/volumes?owner=me` (vast-api.md §9.2)."""

    id: int
    status: OptStr = None
    label: OptStr = None
    disk_space: OptFloat = None
    disk_name: OptStr = None
    machine_id: OptInt = None
    host_id: OptInt = None
    cluster_id: OptInt = None
    public_ipaddr: StrippedStr = None
    instances: Annotated[list[Any] | None, _Lenient] = None
    start_date: OptFloat = None
    storage_total_cost: OptFloat = None
    geolocation: OptStr = None
    verification: OptStr = None

    @property
    def name(self) -> str | None:
        return self.label

    @property
    def instance_ids(self) -> list[int]:
        """Ids of the instances using the volume, whether Vast lists ids or instance objects."""
        ids: list[int] = []
        for item in self.instances or []:
            raw: Any = item.get("id") if isinstance(item, dict) else item
            if isinstance(raw, int | str) and str(raw).isdigit():
                ids.append(int(raw))
        return ids


class CreatedVolume(VastModel):
    """Answer of `PUT /api/v0/volumes/`: `{"success": true, "volume_name": "V.20118481"}`."""

    volume_name: str
    success: OptBool = None

    @property
    def volume_id(self) -> int | None:
        match = _VOLUME_NAME_ID.match(self.volume_name.strip())
        return int(match.group(1)) if match else None


# --- serverless -------------------------------------------------------------------------------


class Endpoint(VastModel):
    """An endpoint group row (`/api/v0/endptjobs/`, vast-api.md §10.1)."""

    id: int
    endpoint_name: OptStr = None
    endpoint_state: OptStr = None
    min_load: OptFloat = None
    min_cold_load: OptFloat = None
    target_util: OptFloat = None
    cold_mult: OptFloat = None
    cold_workers: OptInt = None
    max_workers: OptInt = None
    max_queue_time: OptFloat = None
    target_queue_time: OptFloat = None
    inactivity_timeout: OptInt = None
    user_id: OptInt = None
    created_at: OptFloat = None
    api_key: OptSecret = Field(default=None, repr=False)


class _RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def _set_fields(self, *names: str) -> dict[str, Any]:
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


class EndpointSpec(_RequestModel):
    """What to create or change on an endpoint. Unset (None) fields are not sent, so Vast keeps
    (update) or defaults (create) them; this is the typed SDK's behaviour, not the CLI's."""

    endpoint_name: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9_-]+$", max_length=255)
    min_load: float | None = Field(default=None, ge=0)
    min_cold_load: float | None = Field(default=None, ge=0)
    target_util: float | None = Field(default=None, ge=0, le=1)
    cold_mult: float | None = Field(default=None, ge=0)
    cold_workers: int | None = Field(default=None, ge=0)
    max_workers: int | None = Field(default=None, ge=0)
    max_queue_time: float | None = Field(default=None, ge=0)
    target_queue_time: float | None = Field(default=None, ge=0)
    inactivity_timeout: int | None = Field(default=None, ge=0)
    endpoint_state: Literal["active", "suspended", "stopped"] | None = None
    autoscaler_instance: str = "prod"

    FIELDS: ClassVar[tuple[str, ...]] = (
        "endpoint_name",
        "min_load",
        "min_cold_load",
        "target_util",
        "cold_mult",
        "cold_workers",
        "max_workers",
        "max_queue_time",
        "target_queue_time",
        "inactivity_timeout",
        "endpoint_state",
    )

    def to_create_body(self) -> dict[str, Any]:
        return {
            "client_id": "me",
            **self._set_fields(*self.FIELDS),
            "autoscaler_instance": self.autoscaler_instance,
        }

    def to_update_body(self, endpoint_id: int) -> dict[str, Any]:
        return {"endptjob_id": endpoint_id, **self.to_create_body()}


class Workergroup(VastModel):
    """A workergroup ("autogroup") row (`/api/v0/autojobs/`, vast-api.md §10.2)."""

    id: int
    endpoint_id: OptInt = None
    endpoint_name: OptStr = None
    template_hash: OptStr = None
    template_id: OptInt = None
    search_query: Any = None
    search_params: OptStr = None
    launch_args: OptStr = None
    gpu_ram: OptFloat = None
    min_load: OptFloat = None
    target_util: OptFloat = None
    cold_mult: OptFloat = None
    cold_workers: OptInt = None
    test_workers: OptInt = None
    max_workers: OptInt = None
    user_id: OptInt = None
    created_at: OptFloat = None
    api_key: OptSecret = Field(default=None, repr=False)


DEFAULT_WORKERGROUP_FILTERS = "verified=True rentable=True rented=False"


class WorkergroupRequest(_RequestModel):
    """What to create or change on a workergroup (vast-api.md §10.2).

    `search_params` is a CLI-syntax query string (`OfferQuery.to_search_params()` makes one);
    like the CLI, `verified=True rentable=True rented=False` is appended unless
    `default_filters=False`. It is always sent ("always required by the server").
    """

    endpoint_id: int | None = None
    endpoint_name: str | None = None
    template_hash: str | None = None
    template_id: int | None = None
    search_params: str = ""
    default_filters: bool = True
    launch_args: str | None = None
    gpu_ram: float | None = Field(default=None, ge=0, description="GB")
    min_load: float | None = Field(default=None, ge=0)
    min_cold_load: float | None = Field(default=None, ge=0)
    target_util: float | None = Field(default=None, ge=0, le=1)
    cold_mult: float | None = Field(default=None, ge=0)
    cold_workers: int | None = Field(default=None, ge=0)
    test_workers: int | None = Field(default=None, ge=0)
    max_workers: int | None = Field(default=None, ge=0)
    autoscaler_instance: str = "prod"

    FIELDS: ClassVar[tuple[str, ...]] = (
        "endpoint_id",
        "endpoint_name",
        "template_hash",
        "template_id",
        "launch_args",
        "gpu_ram",
        "min_load",
        "min_cold_load",
        "target_util",
        "cold_mult",
        "cold_workers",
        "test_workers",
        "max_workers",
    )

    def effective_search_params(self) -> str:
        tail = f" {DEFAULT_WORKERGROUP_FILTERS}" if self.default_filters else ""
        return (self.search_params + tail).strip()

    def to_create_body(self) -> dict[str, Any]:
        return {
            "client_id": "me",
            **self._set_fields(*self.FIELDS),
            "search_params": self.effective_search_params(),
            "autoscaler_instance": self.autoscaler_instance,
        }

    def to_update_body(self, workergroup_id: int) -> dict[str, Any]:
        return {"autojob_id": workergroup_id, **self.to_create_body()}


# --- account ----------------------------------------------------------------------------------


class User(VastModel):
    """`GET /api/v0/users/current` (vast-api.md §11.3). Secrets are hidden from `repr`."""

    id: int
    email: OptStr = None
    username: OptStr = None
    fullname: OptStr = None
    credit: OptFloat = None
    balance: OptFloat = None
    balance_threshold: OptFloat = None
    has_billing: OptBool = None
    can_pay: OptBool = None
    email_verified: OptBool = None
    api_key: OptSecret = Field(default=None, repr=False)
    sid: OptSecret = Field(default=None, repr=False)


def parse_ssh_keys(raw: Any) -> list[InstanceSshKey]:
    """`ssh_keys` of `GET /instances/{id}/ssh/` is a JSON *string* of a list (§8); accept a list."""
    if isinstance(raw, str):
        raw = json.loads(raw) if raw.strip() else []
    if not isinstance(raw, list):
        return []
    return [InstanceSshKey.model_validate(item) for item in raw if isinstance(item, dict)]
