"""The building blocks of a VastInstance spec: which offer to rent, environment variables,
SSH keys, volume mounts and how hard to try (`instance.VastInstanceSpec` puts them together)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from .common import (
    DURATION_PATTERN,
    CRDModel,
    SecretKeySelector,
    StatusModel,
    parse_duration,
)


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
    """How hard to try to get a working instance, and what to do when the market takes it."""

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
        description="How many instances to try in total before giving up with phase Failed; "
        "for a job with restartPolicy OnFailure, how many runs (restarts in place count too).",
        ge=1,
        le=20,
    )
    offline_grace: str = Field(
        default="10m",
        description="How long an instance whose host reports offline or unknown is waited for "
        "before it is destroyed, with its disk, and rented again elsewhere (e.g. 30m). A "
        "heartbeat blip shorter than this keeps the instance; meanwhile Ready is False with "
        "reason HostUnreachable.",
        pattern=DURATION_PATTERN,
        max_length=32,
    )

    on_outbid: Literal["Wait", "RaiseBid"] = Field(
        default="Wait",
        description="What to do when Vast stops an interruptible instance because a higher bid "
        "won its GPUs (outbid). Wait: keep it (its disk stays, storage is billed) with Ready "
        "False reason Outbid, and rent elsewhere after outbidTimeout. RaiseBid: raise the bid "
        "(change bid) to the machine's minimum bid if bid plus storage stays within "
        "maxPricePerHour (and the operator's cap); otherwise as Wait.",
    )
    outbid_timeout: str = Field(
        default="10m",
        description="How long an outbid interruptible instance is kept before it is destroyed, "
        "with its disk, and rented again on another machine (e.g. 30m).",
        pattern=DURATION_PATTERN,
        max_length=32,
    )
    scheduling_timeout: str = Field(
        default="10m",
        description="How long a started instance may wait for the GPUs of its machine "
        "(Vast shows it stopped while it should run: Ready False reason Scheduling) before it "
        "is destroyed, with its disk, and rented again on another machine.",
        pattern=DURATION_PATTERN,
        max_length=32,
    )
    contract_end_warning: str = Field(
        default="24h",
        description="How long before the host's contract end (the instance's end_date) the "
        "condition ContractExpiring turns True and a Warning event is emitted.",
        pattern=DURATION_PATTERN,
        max_length=32,
    )
    on_contract_end: Literal["Replace", "Keep"] = Field(
        default="Replace",
        description="What happens when the host's contract ends (end_date passed; a rejected "
        "price increase ends it too): Replace destroys the instance, with its disk, and rents "
        "on another machine (while spec.state is Running); Keep leaves the stopped instance "
        "and its disk for you to copy data off (Ready False reason ContractEnded; Vast may "
        "delete it some time after the end).",
    )


class Completion(CRDModel):
    """What is kept when a job ends (phase Succeeded or Failed)."""

    action: Literal["Destroy", "Stop"] = Field(
        default="Destroy",
        description="Destroy (the default): the instance is destroyed when the job ends, so "
        "neither its GPUs nor its disk are billed any more; its files are gone. Stop: the "
        "instance is stopped and kept, so its disk (outputs, checkpoints) can be read or the "
        "job restarted; Vast bills the disk at its storage price until the object is deleted.",
    )


class JobStatus(StatusModel):
    """The runs of a job and how it ended."""

    runs: int | None = Field(default=None, description="Runs that ended (exits seen).")
    restarts: int | None = Field(
        default=None, description="Runs restarted in place on the same instance after a failure."
    )
    restarted_at: str | None = Field(
        default=None,
        description="When the last restart in place was sent (RFC 3339); cleared once Vast shows "
        "the instance no longer exited.",
    )
    exit_code: int | None = Field(
        default=None, description="Exit code of the last run, when Vast's status message has one."
    )
    last_exit: str | None = Field(
        default=None, description="Vast's status message when the last run ended."
    )
    finished_at: str | None = Field(
        default=None, description="When the job ended, Succeeded or Failed (RFC 3339)."
    )
    result: Literal["Succeeded", "Failed"] | None = Field(
        default=None, description="How the job ended; unset while it runs."
    )


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
