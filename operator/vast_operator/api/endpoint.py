"""VastEndpoint: a Vast serverless endpoint and its workergroups, as a Kubernetes object."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from .common import READY_COLUMNS, CRDModel, CredentialsRef, ManagedStatus, StatusModel

KIND = "VastEndpoint"
PLURAL = "vastendpoints"
SINGULAR = "vastendpoint"
SHORT_NAMES = ["ve", "vastep"]


class Phase(StrEnum):
    PENDING = "Pending"
    CREATING = "Creating"
    READY = "Ready"
    FAILED = "Failed"
    DELETING = "Deleting"


class Workergroup(CRDModel):
    """A group of workers serving the endpoint, all launched from one template or image."""

    name: str = Field(
        description="Name of this workergroup inside the object (a key; not sent to Vast).",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
    )
    template_hash: str | None = Field(
        default=None,
        description="Vast template hash that defines the image and launch settings.",
        pattern=r"^[A-Za-z0-9]+$",
        max_length=128,
    )
    image: str | None = Field(
        default=None,
        description="Container image; the operator creates a private Vast template for it.",
        max_length=1024,
    )
    search_params: str | None = Field(
        default=None,
        description="Offer search in the vastai CLI query language, e.g. "
        "'gpu_name=RTX_4090 num_gpus=1 reliability>0.98'.",
        max_length=2048,
    )
    gpu_ram: float | None = Field(
        default=None, description="GPU memory the model needs, in GB.", gt=0, le=1024
    )
    launch_args: str | None = Field(
        default=None, description="Extra launch arguments for the workers.", max_length=4096
    )
    min_load: float | None = Field(
        default=None, description="Deprecated and ignored; set spec.minLoad instead.", ge=0
    )
    target_util: float | None = Field(
        default=None, description="Deprecated and ignored; set spec.targetUtil instead.", ge=0, le=1
    )
    cold_mult: float | None = Field(
        default=None, description="Deprecated and ignored; set spec.coldMult instead.", ge=0
    )
    cold_workers: int | None = Field(
        default=None, description="Deprecated and ignored; set spec.coldWorkers instead.", ge=0
    )
    test_workers: int | None = Field(
        default=None,
        description="Deprecated and ignored: Vast no longer takes it for a workergroup.",
        ge=0,
    )
    max_workers: int | None = Field(
        default=None, description="Deprecated and ignored; set spec.maxWorkers instead.", ge=0
    )


class VastEndpointSpec(CRDModel):
    """The serverless endpoint you want."""

    endpoint_name: str = Field(
        description="Endpoint name in Vast (letters, digits, '-' and '_').",
        pattern=r"^[a-zA-Z0-9_-]+$",
        min_length=1,
        max_length=255,
    )
    min_load: float | None = Field(default=None, description="Minimum load units.", ge=0)
    min_cold_load: float | None = Field(default=None, description="Minimum cold load.", ge=0)
    target_util: float | None = Field(
        default=None, description="Target utilisation, 0 to 1.", ge=0, le=1
    )
    cold_mult: float | None = Field(default=None, description="Cold capacity multiplier.", ge=0)
    cold_workers: int | None = Field(default=None, description="Cold workers to keep.", ge=0)
    max_workers: int | None = Field(default=None, description="Upper bound on workers.", ge=0)
    max_queue_time: float | None = Field(default=None, description="Seconds.", ge=0)
    target_queue_time: float | None = Field(default=None, description="Seconds.", ge=0)
    inactivity_timeout: int | None = Field(default=None, description="Seconds.", ge=0)
    workergroups: list[Workergroup] | None = Field(
        default=None, description="Workergroups of this endpoint.", max_length=16
    )
    deletion_policy: Literal["Delete", "Orphan"] = Field(
        default="Delete", description="Delete removes the endpoint from Vast; Orphan keeps it."
    )
    credentials_ref: CredentialsRef | None = Field(
        default=None, description="Secret holding the Vast API key; default: the operator's."
    )


SPEC_VALIDATIONS: list[dict[str, str]] = []
FIELD_VALIDATIONS: dict[str, list[dict[str, str]]] = {
    "endpointName": [
        {
            "rule": "self == oldSelf",
            "message": "spec.endpointName cannot be changed after creation",
        }
    ],
    "workergroups.item": [
        {
            "rule": "has(self.templateHash) != has(self.image)",
            "message": "each workergroup needs exactly one of templateHash or image",
        }
    ],
}
LIST_MAP_KEYS = {"workergroups": ["name"]}


class WorkergroupStatus(StatusModel):
    """One workergroup as Vast knows it."""

    name: str = Field(description="The workergroup's name in spec.")
    id: int | None = Field(default=None, description="Vast workergroup id.")
    template_hash: str | None = Field(default=None, description="Template in use.")
    image: str | None = Field(
        default=None, description="The image the operator made the template for (spec.image)."
    )
    workers: int | None = Field(default=None, description="Workers Vast reports.")


class VastEndpointStatus(ManagedStatus):
    """What the operator last saw of the endpoint on Vast."""

    phase: Phase | None = Field(default=None, description="Where the endpoint is in its life.")
    endpoint_id: int | None = Field(default=None, description="Vast endpoint id.")
    endpoint_state: str | None = Field(default=None, description="active, suspended, stopped.")
    workergroups: list[WorkergroupStatus] | None = Field(
        default=None, description="Workergroups with their Vast ids."
    )


PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    *READY_COLUMNS,
    {"name": "Endpoint", "type": "string", "jsonPath": ".spec.endpointName"},
    {"name": "ID", "type": "integer", "jsonPath": ".status.endpointId"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
