"""VastVolume: a Vast local volume, tied to one machine, as a Kubernetes object."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from .common import READY_COLUMNS, CRDModel, CredentialsRef, ManagedStatus

KIND = "VastVolume"
PLURAL = "vastvolumes"
SINGULAR = "vastvolume"
SHORT_NAMES = ["vv", "vastvol"]


class Phase(StrEnum):
    PENDING = "Pending"
    CREATING = "Creating"
    AVAILABLE = "Available"
    FAILED = "Failed"
    DELETING = "Deleting"


class VolumeQuery(CRDModel):
    """Which machines may hold the volume. The volume can only be used by instances there."""

    machine_id: int | None = Field(default=None, description="Exactly this Vast machine.", ge=1)
    geolocation: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] | None = Field(
        default=None,
        description="Allowed countries, as two-letter upper-case codes.",
        min_length=1,
        max_length=64,
    )
    min_reliability: float | None = Field(
        default=None, description="Minimum host reliability, 0 to 1.", ge=0, le=1
    )
    verified: bool = Field(default=True, description="Only verified machines.")
    gpu_name: str | None = Field(
        default=None,
        description="Only machines that also offer this GPU model (so an instance can follow).",
        max_length=64,
    )
    max_storage_cost: float | None = Field(
        default=None, description="Maximum storage price in $ per GB per month.", gt=0
    )


class VolumeOfferSelector(CRDModel):
    """Either a specific volume offer id, or a query."""

    offer_id: int | None = Field(
        default=None, description="A specific volume offer id (`vastai search volumes`).", ge=1
    )
    query: VolumeQuery | None = Field(default=None, description="Search volume offers.")


class VastVolumeSpec(CRDModel):
    """The volume you want."""

    size: int = Field(description="Size in GB. Cannot change after creation.", ge=1, le=65536)
    name: str | None = Field(
        default=None,
        description="Name shown in Vast (letters, digits and underscores, at most 64).",
        pattern=r"^[A-Za-z0-9_]+$",
        max_length=64,
    )
    offer: VolumeOfferSelector = Field(
        default_factory=lambda: VolumeOfferSelector(query=VolumeQuery()),
        description="Where the volume may live: offerId, or a query (default: any verified "
        "machine).",
    )
    deletion_policy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description="Delete removes the Vast volume with the object (once no instance uses "
        "it); Orphan keeps it.",
    )
    credentials_ref: CredentialsRef | None = Field(
        default=None, description="Secret holding the Vast API key; default: the operator's."
    )


SPEC_VALIDATIONS = [
    {
        # No spec.offer means "any verified machine" (the model's default query).
        "rule": "!has(self.offer) || has(self.offer.offerId) != has(self.offer.query)",
        "message": "spec.offer must set exactly one of offerId or query",
    },
    {
        "rule": "has(self.offer) == has(oldSelf.offer)",
        "message": "spec.offer cannot be changed after creation",
    },
]
FIELD_VALIDATIONS: dict[str, list[dict[str, str]]] = {
    "size": [{"rule": "self == oldSelf", "message": "spec.size cannot be changed after creation"}],
    "offer": [
        {"rule": "self == oldSelf", "message": "spec.offer cannot be changed after creation"}
    ],
}


class VastVolumeStatus(ManagedStatus):
    """What the operator last saw of the volume on Vast."""

    phase: Phase | None = Field(default=None, description="Where the volume is in its life.")
    volume_id: int | None = Field(default=None, description="Vast volume id.")
    volume_name: str | None = Field(default=None, description="Vast volume name (V.<id>).")
    offer_id: int | None = Field(default=None, description="The volume offer that was rented.")
    machine_id: int | None = Field(default=None, description="Machine that holds the volume.")
    size: int | None = Field(default=None, description="Size in GB.")
    used_by: list[str] | None = Field(
        default=None, description="VastInstances (names) that mount this volume."
    )
    observed_at: str | None = Field(default=None, description="When the volume was first seen.")


PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    *READY_COLUMNS,
    {"name": "Size", "type": "integer", "jsonPath": ".status.size"},
    {"name": "Machine", "type": "integer", "jsonPath": ".status.machineId"},
    {"name": "Volume", "type": "string", "jsonPath": ".status.volumeName"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
