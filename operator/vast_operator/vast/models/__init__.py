"""Pydantic models of what Vast sends and what we send to Vast, one module per API area.

Response models are tolerant, because Vast's answers are loose (see `base`). Secrets that Vast
returns (endpoint and user API keys, the per-instance key, Jupyter tokens) are `SecretStr` and
excluded from `repr`. Request models serialise exactly like the official CLI (`to_body()`).
The wire shapes are Vast's: https://docs.vast.ai/api.

- `base`: tolerant field types and `VastModel`.
- `offers`: `Offer`, and renting one (`CreateInstanceRequest`, `CreateInstanceResult`).
- `env`: the create body's `env` dict (`build_env`, `PortSpec`, `VolumeMount`).
- `instances`: `Instance`, `PortBinding`, SSH keys attached to an instance.
- `volumes`: `Volume`, `VolumeOffer`, `CreatedVolume`.
- `endpoints`: serverless `Endpoint`/`EndpointSpec` and `Workergroup`/`WorkergroupRequest`.
- `users`: `User`.

Every public name is re-exported here: import from `vast_operator.vast.models`.
"""

from .base import (
    OptBool,
    OptFloat,
    OptInt,
    OptPort,
    OptSecret,
    OptStr,
    StrippedStr,
    VastModel,
)
from .endpoints import (
    DEFAULT_WORKERGROUP_FILTERS,
    Endpoint,
    EndpointSpec,
    Workergroup,
    WorkergroupRequest,
)
from .env import PortSpec, VolumeMount, build_env
from .instances import (
    Instance,
    InstanceSshKey,
    PendingPriceIncrease,
    PortBinding,
    parse_ssh_keys,
)
from .offers import (
    CreateInstanceRequest,
    CreateInstanceResult,
    Offer,
    Runtype,
    country_code,
)
from .users import User
from .volumes import CreatedVolume, Volume, VolumeOffer

__all__ = [
    "DEFAULT_WORKERGROUP_FILTERS",
    "CreateInstanceRequest",
    "CreateInstanceResult",
    "CreatedVolume",
    "Endpoint",
    "EndpointSpec",
    "Instance",
    "InstanceSshKey",
    "Offer",
    "OptBool",
    "OptFloat",
    "OptInt",
    "OptPort",
    "OptSecret",
    "OptStr",
    "PendingPriceIncrease",
    "PortBinding",
    "PortSpec",
    "Runtype",
    "StrippedStr",
    "User",
    "VastModel",
    "Volume",
    "VolumeMount",
    "VolumeOffer",
    "Workergroup",
    "WorkergroupRequest",
    "build_env",
    "country_code",
    "parse_ssh_keys",
]
