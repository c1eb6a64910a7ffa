"""VastInstance: one rented Vast.ai GPU instance, described as a Kubernetes object."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator

from .common import (
    DURATION_PATTERN,
    CRDModel,
    CredentialsRef,
    ManagedStatus,
    SecretKeySelector,
    SecretRef,
    StatusModel,
    parse_duration,
)

KIND = "VastInstance"
# Vast's rent route takes a bid (price) of at most $128/h; the schema says the same.
MAX_BID_PER_HOUR = 128.0
PLURAL = "vastinstances"
SINGULAR = "vastinstance"
SHORT_NAMES = ["vi", "vastinst"]


class Phase(StrEnum):
    PENDING = "Pending"
    SEARCHING = "Searching"
    CREATING = "Creating"
    LOADING = "Loading"
    RUNNING = "Running"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"
    DELETING = "Deleting"


def _cel(rule: str, message: str) -> dict[str, str]:
    return {"rule": rule, "message": message}


class OfferQuery(CRDModel):
    """What kind of machine to rent. Every field narrows the search; cheapest match wins."""

    gpu_name: str | None = Field(
        default=None,
        description=(
            "GPU model in Vast's own spelling, with spaces: 'RTX 4090', 'A100 SXM4', 'H100 SXM'."
        ),
        min_length=1,
        max_length=64,
    )
    gpu_names: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None,
        description="Any of these GPU models (Vast spelling). Use instead of gpuName.",
        min_length=1,
        max_length=16,
    )
    num_gpus: int = Field(
        default=1, description="Exact number of GPUs in the instance.", ge=1, le=16
    )
    min_gpu_ram_gb: float | None = Field(
        default=None,
        alias="minGpuRamGB",
        description="Minimum memory per GPU, in GB.",
        gt=0,
        le=1024,
    )
    min_reliability: float | None = Field(
        default=None,
        description="Minimum host reliability score, between 0 and 1 (e.g. 0.98).",
        ge=0,
        le=1,
    )
    verified: bool = Field(
        default=True, description="Only rent from machines that Vast has verified."
    )
    min_direct_ports: int | None = Field(
        default=None,
        description="Minimum number of direct (non-proxied) ports the machine offers.",
        ge=0,
        le=65535,
    )
    geolocation: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] | None = Field(
        default=None,
        description="Allowed countries, as two-letter upper-case codes (e.g. [US, CA, DE]).",
        min_length=1,
        max_length=64,
    )
    min_cuda_version: float | None = Field(
        default=None, description="Minimum CUDA version the host driver supports, e.g. 12.4.", gt=0
    )
    min_compute_cap: int | None = Field(
        default=None,
        description="Minimum GPU compute capability times 100 (e.g. 890 for 8.9).",
        ge=0,
        le=2000,
    )
    min_inet_down_mbps: float | None = Field(
        default=None, description="Minimum download bandwidth in Mb/s.", ge=0
    )
    machine_id: int | None = Field(
        default=None,
        description="Only this Vast machine (set automatically when a volume is mounted).",
        ge=1,
    )
    order: list[Annotated[str, Field(pattern=r"^[a-z_0-9]+[+-]?$", max_length=64)]] | None = Field(
        default=None,
        description=(
            "Sort order among matching offers: Vast field names, '-' suffix for descending "
            "(e.g. [dph_total] for cheapest first, [reliability-] for most reliable). "
            "Default: cheapest first."
        ),
        max_length=8,
    )


class OfferSelector(CRDModel):
    """Either a specific offer id, or a query to search the market with."""

    offer_id: int | None = Field(
        default=None,
        description="A specific Vast offer id (from `vastai search offers`). One-shot: once "
        "rented it is gone from the market.",
        ge=1,
    )
    query: OfferQuery | None = Field(
        default=None, description="Search the market for an offer matching these conditions."
    )


class EnvValueFrom(CRDModel):
    """Where an environment value comes from."""

    secret_key_ref: SecretKeySelector = Field(
        description="A key of a Secret in the object's namespace."
    )


class EnvVar(CRDModel):
    """An environment variable for the container."""

    name: str = Field(
        description="Variable name.",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        min_length=1,
        max_length=128,
    )
    value: str | None = Field(default=None, description="Literal value.", max_length=4096)
    value_from: EnvValueFrom | None = Field(
        default=None, description="Take the value from a Secret instead of writing it here."
    )


class SSHKey(CRDModel):
    """An SSH public key to attach to the instance."""

    public_key: str | None = Field(
        default=None,
        description="The public key itself, e.g. 'ssh-ed25519 AAAA... me@laptop'.",
        pattern=r"^(ssh-|ecdsa-|sk-)[A-Za-z0-9@.-]+ [A-Za-z0-9+/=]+( .*)?$",
        max_length=16384,
    )
    secret_key_ref: SecretKeySelector | None = Field(
        default=None, description="A Secret key whose value is a public key."
    )


class VolumeMount(CRDModel):
    """A VastVolume to mount into the instance."""

    name: str = Field(
        description="Name of a VastVolume in the same namespace.", min_length=1, max_length=253
    )
    mount_path: str = Field(
        description="Absolute path inside the container, e.g. /workspace.",
        pattern=r"^/[A-Za-z0-9._/-]*$",
        max_length=256,
    )


class Placement(CRDModel):
    """How hard to try to get a working instance."""

    boot_timeout: str = Field(
        default="20m",
        description="How long an instance may stay created/loading before it is destroyed and "
        "rented again elsewhere (e.g. 15m). More than 0; the operator waits at least its "
        "--min-boot-timeout (default 1m) whatever this says.",
        pattern=DURATION_PATTERN,
        max_length=32,
    )

    @field_validator("boot_timeout")
    @classmethod
    def _boot_timeout_minimum(cls, value: str) -> str:
        if parse_duration(value).total_seconds() <= 0:
            raise ValueError("placement.bootTimeout must be more than 0")
        return value

    max_attempts: int = Field(
        default=3,
        description="How many instances to try in total before giving up with phase Failed.",
        ge=1,
        le=20,
    )


class VastInstanceSpec(CRDModel):
    """The GPU instance you want."""

    offer: OfferSelector = Field(description="Which offer to rent: offerId, or a query.")
    type: Literal["onDemand", "interruptible"] = Field(
        default="onDemand",
        description="onDemand (never preempted) or interruptible (a bid; cheaper, may be "
        "stopped when outbid).",
    )
    bid_per_hour: float | None = Field(
        default=None,
        description="For interruptible only: your bid in dollars per hour for the whole machine "
        "(Vast accepts at most 128).",
        ge=0.001,
        le=MAX_BID_PER_HOUR,
    )
    max_price_per_hour: float | None = Field(
        default=None,
        description="Never rent anything costing more than this, in dollars per hour, storage "
        "included (e.g. 0.8).",
        gt=0,
        le=1000,
    )
    image: str = Field(
        description="Container image, e.g. pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime. "
        "Cannot change after creation.",
        min_length=1,
        max_length=1024,
        pattern=r"^[^\s]+$",
    )
    disk: float = Field(
        default=16,
        description="Container disk size in GB (at least 8). Cannot change after creation.",
        ge=8,
        le=65536,
    )
    env: list[EnvVar] | None = Field(
        default=None, description="Environment variables for the container.", max_length=64
    )
    onstart: str | None = Field(
        default=None,
        description="Shell script run when the container starts (at most 4096 characters).",
        max_length=4096,
    )
    ports: list[Annotated[int, Field(ge=1, le=65535)]] | None = Field(
        default=None,
        description="TCP ports to expose; status.ports shows where each one is reachable.",
        max_length=64,
    )
    runtype: Literal["ssh", "jupyter", "args"] = Field(
        default="ssh",
        description="ssh: Vast's SSH launcher; jupyter: Jupyter plus SSH; args: keep the "
        "image's entrypoint and pass spec.args.",
    )
    direct_ssh: bool = Field(
        default=False,
        description="Ask for direct SSH/Jupyter ports on the host instead of Vast's proxy.",
    )
    args: list[Annotated[str, Field(max_length=1024)]] | None = Field(
        default=None,
        description="Arguments for the image's entrypoint (runtype args only).",
        max_length=64,
    )
    template_hash: str | None = Field(
        default=None,
        description="A Vast template hash whose settings are merged under this spec.",
        pattern=r"^[A-Za-z0-9]+$",
        max_length=128,
    )
    ssh_keys: list[SSHKey] | None = Field(
        default=None,
        description="Public keys attached to the instance after it is created.",
        max_length=32,
    )
    volumes: list[VolumeMount] | None = Field(
        default=None,
        description="VastVolumes to mount; the instance is placed on the volume's machine.",
        max_length=1,
    )
    state: Literal["Running", "Stopped"] = Field(
        default="Running",
        description="Running, or Stopped (keeps the disk, stops GPU billing).",
    )
    lifetime: str | None = Field(
        default=None,
        description="Destroy the instance this long after it first started running "
        "(e.g. 8h). The object stays, in phase Stopped with reason LifetimeExpired.",
        pattern=DURATION_PATTERN,
        max_length=32,
    )
    placement: Placement = Field(
        default_factory=Placement,
        description="Boot timeout and how many machines to try.",
    )
    deletion_policy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description="Delete destroys the Vast instance with the object; Orphan leaves it "
        "running (and billing) in your Vast account.",
    )
    credentials_ref: CredentialsRef | None = Field(
        default=None,
        description="Secret holding the Vast API key; default: the operator's own key.",
    )
    write_connection_secret_to_ref: SecretRef | None = Field(
        default=None,
        description="Write host, port, user and a ready ssh command into this Secret.",
    )
    update_policy: Literal["NextRental", "Recreate"] = Field(
        default="NextRental",
        description="What happens when a field Vast fixes at rent time changes (offer, env, "
        "ports, onstart, runtype, args, templateHash, directSsh, type, bidPerHour, volumes): "
        "NextRental applies it to the next rental only (condition UpToDate=False names the "
        "fields); Recreate destroys the running instance at once and rents a new one with the "
        "new spec. Recreate loses everything on the instance's disk that is not on a "
        "VastVolume, and the new instance gets a new machine, IP address and SSH port.",
    )


SPEC_VALIDATIONS = [
    _cel(
        "has(self.offer.offerId) != has(self.offer.query)",
        "spec.offer must set exactly one of offerId or query",
    ),
    _cel(
        "!has(self.bidPerHour) || self.type == 'interruptible'",
        "spec.bidPerHour is only allowed when spec.type is interruptible",
    ),
    _cel(
        "self.type != 'interruptible' || has(self.bidPerHour)",
        "spec.type interruptible needs spec.bidPerHour (your bid in $/h)",
    ),
    _cel(
        "!has(self.bidPerHour) || !has(self.maxPricePerHour) || "
        "self.bidPerHour <= self.maxPricePerHour",
        "spec.bidPerHour must not exceed spec.maxPricePerHour",
    ),
    _cel(
        "!has(self.args) || self.runtype == 'args'",
        "spec.args is only used with spec.runtype args",
    ),
]

FIELD_VALIDATIONS: dict[str, list[dict[str, str]]] = {
    "placement.bootTimeout": [
        _cel(
            "!self.matches('^(0+(\\\\.0+)?[smhd])+$')",
            "spec.placement.bootTimeout must be more than 0",
        )
    ],
    "image": [
        _cel(
            "self == oldSelf",
            "spec.image cannot be changed after creation; create a new VastInstance instead",
        )
    ],
    "disk": [
        _cel(
            "self == oldSelf",
            "spec.disk cannot be changed after creation; Vast cannot resize a container disk",
        )
    ],
    "offer.query": [
        _cel(
            "!(has(self.gpuName) && has(self.gpuNames))",
            "set either spec.offer.query.gpuName or gpuNames, not both",
        )
    ],
    "env.item": [
        _cel(
            "has(self.value) != has(self.valueFrom)",
            "each env entry needs exactly one of value or valueFrom",
        )
    ],
    "sshKeys.item": [
        _cel(
            "has(self.publicKey) != has(self.secretKeyRef)",
            "each sshKeys entry needs exactly one of publicKey or secretKeyRef",
        )
    ],
}


class PortMapping(StatusModel):
    """Where an exposed container port can be reached."""

    container_port: int = Field(description="Port inside the container.")
    protocol: str = Field(default="tcp", description="tcp or udp.")
    host_ip: str = Field(description="Public IP address of the host.")
    host_port: int = Field(description="Port on the host's public address.")


class MountedVolume(StatusModel):
    """A VastVolume mounted into the instance."""

    name: str = Field(description="The VastVolume's name.")
    volume_id: str = Field(description="Vast volume id.")
    mount_path: str = Field(description="Where it is mounted in the container.")


class VastInstanceStatus(ManagedStatus):
    """What the operator last saw of the instance on Vast."""

    phase: Phase | None = Field(default=None, description="Where the instance is in its life.")
    instance_id: int | None = Field(default=None, description="Vast instance (contract) id.")
    offer_id: int | None = Field(default=None, description="The offer that was rented.")
    machine_id: int | None = Field(default=None, description="Vast machine id.")
    host_id: int | None = Field(default=None, description="Vast host id.")
    gpu_name: str | None = Field(default=None, description="GPU model.")
    num_gpus: int | None = Field(default=None, description="Number of GPUs.")
    price_per_hour: float | None = Field(
        default=None, description="What Vast charges now, in $/h (dph_total)."
    )
    accrued_cost: float | None = Field(
        default=None, description="Estimated spend since the instance started running, in $."
    )
    actual_status: str | None = Field(default=None, description="Vast's actual_status.")
    ssh_host: str | None = Field(default=None, description="SSH host to connect to.")
    ssh_port: int | None = Field(default=None, description="SSH port to connect to.")
    public_ip: str | None = Field(default=None, description="Host's public IP address.")
    ports: list[PortMapping] | None = Field(default=None, description="Exposed ports.")
    started_at: str | None = Field(default=None, description="When it first ran (RFC 3339).")
    expired_at: str | None = Field(
        default=None, description="When spec.lifetime ran out and the instance was destroyed."
    )
    attempts: int | None = Field(default=None, description="Rentals tried so far.")
    observed_at: str | None = Field(
        default=None, description="When the operator last learned the instance id."
    )
    retired_instance_ids: list[int] | None = Field(
        default=None, description="Instances this object destroyed (never adopted again)."
    )
    failed_machines: list[int] | None = Field(
        default=None, description="Machines that failed this object; never tried again."
    )
    attached_ssh_keys: list[str] | None = Field(
        default=None, description="Fingerprints of the SSH keys attached to the instance."
    )
    rented_with: dict[str, str] | None = Field(
        default=None,
        description="A short hash of each rent-time spec field as it was when the instance was "
        "rented; a difference is reported in the UpToDate condition.",
    )
    volumes: list[MountedVolume] | None = Field(default=None, description="Mounted volumes.")


PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "GPU", "type": "string", "jsonPath": ".status.gpuName"},
    {"name": "GPUs", "type": "integer", "jsonPath": ".status.numGpus", "priority": 1},
    {"name": "$/h", "type": "number", "jsonPath": ".status.pricePerHour"},
    {"name": "SSH-Host", "type": "string", "jsonPath": ".status.sshHost"},
    {"name": "SSH-Port", "type": "integer", "jsonPath": ".status.sshPort"},
    {"name": "Instance", "type": "integer", "jsonPath": ".status.instanceId", "priority": 1},
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "priority": 1,
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
