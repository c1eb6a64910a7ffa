"""VastInstance: one rented Vast.ai GPU instance, described as a Kubernetes object."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .common import (
    DURATION_PATTERN,
    READY_COLUMNS,
    CRDModel,
    CredentialsRef,
    ManagedStatus,
    SecretRef,
)
from .instance_parts import (
    Completion,
    EnvVar,
    JobStatus,
    MountedVolume,
    OfferSelector,
    Placement,
    PortMapping,
    SSHKey,
    VolumeMount,
)
from .rental import MAX_RENTALS, Rental

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
    SUCCEEDED = "Succeeded"  # a job (restartPolicy OnFailure or Never) that exited with 0
    FAILED = "Failed"
    DELETING = "Deleting"


def _cel(rule: str, message: str) -> dict[str, str]:
    return {"rule": rule, "message": message}


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
    image: str | None = Field(
        default=None,
        description="Container image, e.g. pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime. "
        "Required unless templateHash is set (then the template's image runs). Cannot change "
        "after creation.",
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
        default=None,
        description="Environment variables for the container (with templateHash: added to the "
        "template's, a variable of the same name replacing the template's).",
        max_length=64,
    )
    onstart: str | None = Field(
        default=None,
        description="Shell script run when the container starts (at most 4096 characters).",
        max_length=4096,
    )
    ports: list[Annotated[int, Field(ge=1, le=65535)]] | None = Field(
        default=None,
        description="TCP ports to expose; status.ports shows where each one is reachable. "
        "Only machines with enough direct ports are rented. With templateHash, the template's "
        "ports are exposed as well.",
        max_length=64,
    )
    runtype: Literal["ssh", "jupyter", "args"] | None = Field(
        default=None,
        description="ssh: Vast's SSH launcher; jupyter: Jupyter plus SSH; args: keep the "
        "image's entrypoint and pass spec.args. Default: ssh, or with templateHash the "
        "template's own runtype.",
    )
    direct_ssh: bool | None = Field(
        default=None,
        description="Ask for direct SSH/Jupyter ports on the host instead of Vast's proxy "
        "(default false; with templateHash it needs runtype, else the template decides).",
    )
    args: list[Annotated[str, Field(max_length=1024)]] | None = Field(
        default=None,
        description="Arguments for the image's entrypoint (runtype args only).",
        max_length=64,
    )
    template_hash: str | None = Field(
        default=None,
        description="A Vast template hash (`vastai search templates`): its image, runtype, "
        "env, ports and onstart apply unless this spec sets them.",
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
    restart_policy: Literal["Always", "OnFailure", "Never"] = Field(
        default="Always",
        description="What an exit of the container means, as for a Pod. Always (the default, "
        "for services: an instance is rented to stay up, so an exit is a failure): the "
        "instance is replaced, up to placement.maxAttempts. OnFailure and Never make the "
        "object a job (runtype args): exit code 0 ends it in phase Succeeded, rented once; a "
        "non-zero exit is run again (on the same machine when Vast restarts it, else on "
        "another) up to placement.maxAttempts runs under OnFailure, and ends in phase Failed "
        "under Never. Either way spec.completion says what is kept after the end.",
    )
    completion: Completion | None = Field(
        default=None,
        description="Jobs only: what happens to the instance when the job ends "
        "(default: destroyed, so nothing is billed any more).",
    )
    placement: Placement = Field(
        default_factory=Placement,
        description="Boot timeout, how many machines to try, and what to do when the host "
        "goes offline, the instance is outbid or waits for its GPUs, or its contract ends.",
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

    @model_validator(mode="after")
    def _image_or_template(self) -> VastInstanceSpec:
        if self.image is None and self.template_hash is None:
            raise ValueError("spec.image is required unless spec.templateHash is set")
        return self


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
        "!has(self.args) || (has(self.runtype) ? self.runtype == 'args' : has(self.templateHash))",
        "spec.args is only used with spec.runtype args (or a template whose runtype is args)",
    ),
    _cel(
        "self.restartPolicy == 'Always' || "
        "(has(self.runtype) ? self.runtype == 'args' : has(self.templateHash))",
        "spec.restartPolicy OnFailure or Never needs spec.runtype args (or a template whose "
        "runtype is args): only an entrypoint that finishes makes a job",
    ),
    _cel(
        "!has(self.completion) || self.restartPolicy != 'Always'",
        "spec.completion is only used with spec.restartPolicy OnFailure or Never",
    ),
    _cel(
        "has(self.image) || has(self.templateHash)",
        "spec.image is required unless spec.templateHash names a Vast template to run",
    ),
    _cel(
        "!has(self.directSsh) || has(self.runtype) || !has(self.templateHash)",
        "spec.directSsh with spec.templateHash needs spec.runtype too; without runtype the "
        "template's own runtype (direct or proxied) is used",
    ),
    _cel(
        "has(self.image) == has(oldSelf.image)",
        "spec.image cannot be added or removed after creation; create a new VastInstance instead",
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
        default=None,
        description="What every rental of this object has cost, in $ to the cent: each rental "
        "at its GPU price while Vast holds its GPUs (cur_state running) plus its disk price from "
        "rent to destroy, summed with earlier rentals (rentals, earlierRentalsCost). Rewritten "
        "when it moves by a cent.",
    )
    accrued_cost_at: str | None = Field(
        default=None,
        description="When accruedCost was computed, on Vast's clock (RFC 3339).",
    )
    rentals: list[Rental] | None = Field(
        default=None,
        description=f"The latest {MAX_RENTALS} rentals of this object, oldest first, with what "
        "each has cost; older ones are summed in earlierRentalsCost.",
    )
    earlier_rentals_cost: str | None = Field(
        default=None,
        description="What rentals no longer listed in rentals cost, in $ (decimal, to the "
        "micro-dollar).",
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
    refused_offers: list[int] | None = Field(
        default=None,
        description="Offers Vast refused to rent for this spec (too little disk, a bid below "
        "the minimum, ...); not tried again until the spec changes. The latest 32.",
    )
    attached_ssh_keys: list[str] | None = Field(
        default=None, description="Fingerprints of the SSH keys attached to the instance."
    )
    unreachable_since: str | None = Field(
        default=None,
        description="Since when the instance's host has reported offline or unknown (RFC 3339).",
    )
    gpu_wait_since: str | None = Field(
        default=None,
        description="Since when Vast has kept the instance stopped while it should run: "
        "outbid, or waiting for its machine's GPUs (RFC 3339).",
    )
    contract_end: str | None = Field(
        default=None,
        description="When the host's contract for the instance ends (Vast's end_date, RFC 3339).",
    )
    price_increase_answer: str | None = Field(
        default=None,
        description="The last host price increase the operator answered: instance id, new "
        "$/h, effective date and accepted or rejected (it is answered once).",
        max_length=256,
    )
    rented_with: dict[str, str] | None = Field(
        default=None,
        description="A short hash of each rent-time spec field as it was when the instance was "
        "rented; a difference is reported in the UpToDate condition.",
    )
    volumes: list[MountedVolume] | None = Field(default=None, description="Mounted volumes.")
    job: JobStatus | None = Field(
        default=None, description="Jobs (restartPolicy OnFailure or Never): runs and the end."
    )


PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    *READY_COLUMNS,
    {"name": "GPU", "type": "string", "jsonPath": ".status.gpuName"},
    {"name": "GPUs", "type": "integer", "jsonPath": ".status.numGpus", "priority": 1},
    {"name": "$/h", "type": "number", "jsonPath": ".status.pricePerHour"},
    {"name": "SSH-Host", "type": "string", "jsonPath": ".status.sshHost"},
    {"name": "SSH-Port", "type": "integer", "jsonPath": ".status.sshPort"},
    {"name": "Instance", "type": "integer", "jsonPath": ".status.instanceId", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
