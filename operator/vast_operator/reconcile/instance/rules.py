"""Pure rules about one Vast instance: is it failing, which phase, which ports, which runtype.

No I/O: every rule here is tested directly (tests/unit/test_instance_logic.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from ...api.instance import Phase, VastInstanceSpec, VastInstanceStatus
from ...vast.errors import PermanentError, VastError
from ...vast.models import Instance
from ..conditions import Reason

FAILED_STATUSES = frozenset({"exited"})
# A host that stops reporting: often a heartbeat blip. Replaced only after offlineGrace.
UNREACHABLE_STATUSES = frozenset({"offline", "unknown"})
BOOTING_STATUSES = frozenset({None, "", "created", "loading", "scheduling"})
OCI_ERROR = re.compile(
    r"oci runtime|error response from daemon|failed to create|permission denied|no such image",
    re.IGNORECASE,
)
MAX_RETIRED = 32
OFFERS_PER_PASS = 4


def failure_reason(
    inst: Instance, creating_since: float | None, boot_timeout: float, now: float
) -> str | None:
    """Why this instance will never run (so it must be replaced), or None if it may still."""
    status = inst.actual_status
    if status in FAILED_STATUSES:
        return f"instance {inst.id} is {status} on machine {inst.machine_id}"
    if status in BOOTING_STATUSES and inst.status_msg and OCI_ERROR.search(inst.status_msg):
        return f"instance {inst.id} failed to start: {inst.status_msg[:300]}"
    started = creating_since if creating_since is not None else inst.start_date
    if status in BOOTING_STATUSES and started is not None and now - started > boot_timeout:
        return (
            f"instance {inst.id} still {status or 'provisioning'} after "
            f"{int(now - started)}s (bootTimeout {int(boot_timeout)}s)"
        )
    return None


def phase_for(inst: Instance, desired: str) -> tuple[Phase, Reason, str]:
    """Phase, Ready reason and message for an instance that is not failing."""
    actual = inst.actual_status
    if actual == "running":
        if desired == "Stopped":
            return Phase.STOPPING, Reason.STOPPING, f"stopping instance {inst.id}"
        return Phase.RUNNING, Reason.RUNNING, f"instance {inst.id} is running"
    if actual == "stopped":
        if desired == "Stopped":
            return Phase.STOPPED, Reason.STOPPED, f"instance {inst.id} is stopped"
        return (
            Phase.LOADING,
            Reason.LOADING,
            f"instance {inst.id} is stopped, waiting for its GPUs to be scheduled",
        )
    return Phase.LOADING, Reason.LOADING, f"instance {inst.id} is {actual or 'being created'}"


def ports_status(inst: Instance, ports: list[int]) -> list[dict[str, Any]] | None:
    """Where SSH and the spec's ports are reachable; every mapped port of an instance rented
    from a template (the template's ports are the instance's too)."""
    if not inst.ports or not inst.public_ipaddr:
        return None
    result = []
    wanted = set(ports) | {22}
    # By port number: "22/tcp" before "1111/tcp" (shorter digit strings are smaller numbers).
    by_number = sorted(inst.ports.items(), key=lambda kv: (len(kv[0].partition("/")[0]), kv[0]))
    for key, bindings in by_number:
        internal, _, proto = key.partition("/")
        if not internal.isdigit() or (int(internal) not in wanted and not inst.template_hash_id):
            continue
        for binding in bindings or []:
            if binding.host_port is not None:
                result.append(
                    {
                        "containerPort": int(internal),
                        "protocol": proto or "tcp",
                        "hostIp": inst.public_ipaddr,
                        "hostPort": binding.host_port,
                    }
                )
                break
    return result or None


def runtype_for(spec: VastInstanceSpec) -> str | None:
    """The runtype to rent with, as the CLI spells it; None leaves it to spec.templateHash.

    Without a template the default is ssh. With one, the template's runtype (and its own
    direct or proxied choice) applies unless the spec sets runtype (or directSsh) itself.
    """
    runtype = spec.runtype
    if runtype is None:
        if spec.template_hash is not None and spec.direct_ssh is None:
            return None
        runtype = "ssh"
    if runtype == "args":
        return "args"
    if runtype == "jupyter":
        return "jupyter_direc ssh_direc ssh_proxy" if spec.direct_ssh else "jupyter_proxy ssh_proxy"
    return "ssh_direc ssh_proxy" if spec.direct_ssh else "ssh_proxy"


# Which refused rents are the offer's fault. Vast answers a rent it will not make with a 4xx
# (PermanentError) whose code is shared by offer- and request-level faults (`invalid_args`
# for "requested disk 200 GB exceeds the 125 GB this offer has" as for "unknown runtype"), so
# the message decides: a refusal is the offer's when it names the offer or a limit of it
# (its disk, direct ports, minimum bid, its machine, that it is not rentable or not ours to
# rent). Any `invalid_price` is the offer's too: the CRD keeps the bid inside the range Vast
# accepts, so only the offer's current minimum bid can refuse it. Such an offer is
# excluded for this object (status.refusedOffers) and the next one is tried. Anything else
# (the request itself, credit, credentials, a missing template or volume, rate limits) would
# be refused by every offer and goes to the loop as an error. Offers that are gone
# (no_such_ask) are an OfferUnavailableError, handled before this rule.
OFFER_REFUSAL = re.compile(
    r"this offer|offer \d+|minimum bid|min_bid|disk_space|direct port|not rentable|"
    r"not your own|on machine \d+|not available",
    re.IGNORECASE,
)
MAX_REFUSED_OFFERS = 32


def offer_refusal(exc: VastError) -> bool:
    """Whether Vast refused the rent for a reason of the offer's (see OFFER_REFUSAL)."""
    if type(exc) is not PermanentError or exc.status is None or not 400 <= exc.status < 500:
        return False
    return exc.code == "invalid_price" or bool(OFFER_REFUSAL.search(exc.message))


def refuse_offer(status: VastInstanceStatus, offer_id: int) -> None:
    """Remember an offer Vast refused for this spec (the latest MAX_REFUSED_OFFERS)."""
    refused = [o for o in status.refused_offers or [] if o != offer_id] + [offer_id]
    status.refused_offers = refused[-MAX_REFUSED_OFFERS:]


def key_fingerprint(public_key: str) -> str:
    """The OpenSSH fingerprint of a public key line (what `ssh-keygen -lf` prints).

    A line that is not a valid `type base64 [comment]` key falls back to a hash of the line.
    """
    parts = public_key.strip().split()
    if len(parts) >= 2:
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except ValueError:
            blob = b""
        if blob:
            digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
            return "SHA256:" + digest
    return "SHA256:" + hashlib.sha256(public_key.strip().encode()).hexdigest()[:32]


def retire(status: VastInstanceStatus, instance_id: int) -> None:
    """Remember an instance this object destroyed, so that it is never adopted again."""
    retired = list(status.retired_instance_ids or [])
    if instance_id not in retired:
        retired.append(instance_id)
    status.retired_instance_ids = retired[-MAX_RETIRED:]


def forget_instance(status: VastInstanceStatus) -> None:
    """Clear what described the instance that is gone."""
    status.instance_id = None
    status.ssh_host = None
    status.ssh_port = None
    status.public_ip = None
    status.ports = None
    status.actual_status = None


# Spec fields Vast fixes when the instance is rented: a change applies to the next rental.
RENT_TIME_FIELDS = (
    "offer",
    "image",
    "disk",
    "env",
    "ports",
    "onstart",
    "runtype",
    "args",
    "templateHash",
    "directSsh",
    "type",
    "bidPerHour",
    "volumes",
)


def rent_fingerprint(spec: VastInstanceSpec) -> dict[str, str]:
    """A short hash per rent-time field (absent fields hash as null)."""
    wire = spec.wire()
    return {
        name: hashlib.sha256(json.dumps(wire.get(name), sort_keys=True).encode()).hexdigest()[:12]
        for name in RENT_TIME_FIELDS
    }


def fields_waiting(spec: VastInstanceSpec, rented_with: dict[str, str] | None) -> list[str]:
    """Rent-time fields that changed since the instance was rented."""
    if rented_with is None:
        return []
    now = rent_fingerprint(spec)
    return [name for name in RENT_TIME_FIELDS if rented_with.get(name, now[name]) != now[name]]
