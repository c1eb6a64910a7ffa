"""Serverless endpoints (`/api/v0/endptjobs/`) and their workergroups (`/api/v0/autojobs/`)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from .base import OptFloat, OptInt, OptSecret, OptStr, VastModel

__all__ = [
    "DEFAULT_WORKERGROUP_FILTERS",
    "Endpoint",
    "EndpointSpec",
    "Workergroup",
    "WorkergroupRequest",
]


class Endpoint(VastModel):
    """An endpoint group row (`/api/v0/endptjobs/`)."""

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
    """A workergroup ("autogroup") row (`/api/v0/autojobs/`).

    The load fields are read for display only: `WorkergroupRequest` no longer sends them.
    """

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
    """What to create or change on a workergroup.

    `search_params` is a CLI-syntax query string (`OfferQuery.to_search_params()` makes one);
    like the CLI, `verified=True rentable=True rented=False` is appended unless
    `default_filters=False`. It is always sent ("always required by the server").

    The body follows `vastai` 1.9.1 (`vastai/api/endpoints.py`, `create_workergroup` and
    `update_workergroup`): the autoscaling fields `min_load`, `target_util`, `cold_mult`,
    `cold_workers`, `test_workers` and `max_workers` are no longer sent for a workergroup (they
    are the endpoint's, `EndpointSpec`), so this model refuses them. `min_cold_load` stays: the
    SDK's typed `WorkergroupConfig` still sends it.
    """

    endpoint_id: int | None = None
    endpoint_name: str | None = None
    template_hash: str | None = None
    template_id: int | None = None
    search_params: str = ""
    default_filters: bool = True
    launch_args: str | None = None
    gpu_ram: float | None = Field(default=None, ge=0, description="GB")
    min_cold_load: float | None = Field(default=None, ge=0)
    autoscaler_instance: str = "prod"

    FIELDS: ClassVar[tuple[str, ...]] = (
        "endpoint_id",
        "endpoint_name",
        "template_hash",
        "template_id",
        "launch_args",
        "gpu_ram",
        "min_cold_load",
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
