"""Offers (`POST /api/v0/bundles/`) and renting one (`PUT /api/v0/asks/{id}/`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from .base import OptBool, OptFloat, OptInt, OptSecret, OptStr, StrippedStr, VastModel
from .geo import country_code

__all__ = [
    "CreateInstanceRequest",
    "CreateInstanceResult",
    "Offer",
    "Runtype",
    "country_code",
]


class Offer(VastModel):
    """One row of `POST /api/v0/bundles/`. Rent it with its `id`."""

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


class CreateInstanceRequest(BaseModel):
    """Body of `PUT /api/v0/asks/{offer_id}/`.

    `price` None rents on-demand; a price makes it an interruptible bid in $/h. `env` is the dict
    form (use `build_env`); `volume_info` is Vast's volume object. `to_body()` sends every key
    the CLI always sends, plus `runtype` (defaulted like the CLI when no template is given),
    `args`, `volume_info` and `target_state` only when set.
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
    """Answer of a rent: `new_contract` is the instance id."""

    new_contract: int
    success: OptBool = None
    ask_id: OptInt = None
    instance_api_key: OptSecret = Field(default=None, repr=False)

    @property
    def instance_id(self) -> int:
        return self.new_contract
