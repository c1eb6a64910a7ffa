"""Instance status transitions, computed lazily from timestamps (no background tasks).

Every transition records when its phase started and how long it lasts; `advance` replays
whatever is due at `now`, so the states an instance passes through are exact no matter when
(or how rarely) it is observed. Timeline of a fresh rental with boot time B:

    t0            t0+0.2B                       t0+B
    | provisioning | loading                      | running (ports, ssh, uptime)
      actual=None    actual="loading"               actual="running"

Destroying a contract (with unloading on) keeps the row for `unload_seconds` in phase
`unloading` (cur_state/next_state "unloaded", the one destroy state Vast's docs name); after that
the phase is `unloaded` and the world removes the instance.

A machine marked `never_boot` keeps its instances in `loading` forever; one marked `oci_error`
ends the boot in `actual_status="created"` with an OCI runtime error in `status_msg`.

A running container may exit (container.py: `VAST_SIM_EXIT_AFTER`, or the admin route): phase
`exited`, `actual_status="exited"`, `status_msg="Exited (N)"`, GPUs kept. A running instance with
a planned exit is transient (`is_transient`) so that `advance` replays the exit on time.
"""

from __future__ import annotations

from vast_sim import container
from vast_sim.models import Instance, JSONDict, Machine

PROVISION_FRACTION = 0.2
RESTART_FRACTION = 0.5
REBOOT_FRACTION = 0.3

UNLOADING = "unloading"
UNLOADED = "unloaded"

# Phases whose outcome depends on time (or on free GPUs) and must be replayed by `advance`.
TRANSIENT_PHASES = frozenset({"provisioning", "loading", "rebooting", "scheduling", UNLOADING})

OCI_ERROR_MSG = (
    "Error response from daemon: failed to create task for container: failed to create shim "
    "task: OCI runtime create failed: runc create failed: unable to start container process: "
    "error during container init: error running hook #0: error running hook: exit status 1, "
    "stdout: , stderr: Auto-detected mode as 'legacy'\nnvidia-container-cli: initialization "
    "error: nvml error: driver/library version mismatch: unknown"
)
SCHEDULING_MSG = "Scheduling: waiting for the GPUs on this machine to become available"
UNLOADING_MSG = "Destroying: the contract has ended and the machine is unloading it"


def _set(
    inst: Instance,
    phase: str,
    started: float,
    duration: float,
    *,
    actual: str | None,
    intended: str,
    cur: str,
    nxt: str,
    msg: str | None,
) -> None:
    inst.exit_at = None  # a planned exit belongs to one run; _enter_running plans the next
    inst.phase = phase
    inst.phase_started = started
    inst.phase_duration = duration
    inst.actual_status = actual
    inst.intended_status = intended
    inst.cur_state = cur
    inst.next_state = nxt
    inst.status_msg = msg


def _image_tag(inst: Instance) -> str:
    image = inst.image or ""
    return image if ":" in image.rsplit("/", 1)[-1] else f"{image}:latest"


def is_transient(inst: Instance) -> bool:
    """Whether `advance` has something due later: a timed phase, or a planned exit."""
    return inst.phase in TRANSIENT_PHASES or (inst.phase == "running" and inst.exit_at is not None)


def _enter_loading(inst: Instance, started: float, duration: float) -> None:
    container.on_pull(inst, started, _image_tag(inst))
    _set(
        inst,
        "loading",
        started,
        duration,
        actual="loading",
        intended="running",
        cur="running",
        nxt="running",
        msg=f"Pulling image {_image_tag(inst)}",
    )


def _enter_running(inst: Instance, started: float) -> None:
    mode = "jupyter" if "jupyter" in inst.runtype else ("args" if inst.runtype == "args" else "ssh")
    _set(
        inst,
        "running",
        started,
        0.0,
        actual="running",
        intended="running",
        cur="running",
        nxt="running",
        msg=f"success, running {_image_tag(inst).replace(':', '_')}/{mode}",
    )
    inst.running_since = started
    container.on_start(inst, started)


def exit_container(inst: Instance, at: float, code: int) -> None:
    """The container's process ended: the instance stays, with its GPUs, until told otherwise."""
    container.on_exit(inst, at, code)
    inst.running_since = None
    _set(
        inst,
        "exited",
        at,
        0.0,
        actual="exited",
        intended="running",
        cur="running",
        nxt="running",
        msg=container.exit_message(code),
    )


def begin_create(inst: Instance, now: float, boot_seconds: float) -> None:
    """A fresh rental: provisioning, then loading, then running after `boot_seconds`."""
    inst.loading_duration = boot_seconds * (1 - PROVISION_FRACTION)
    inst.running_since = None
    _set(
        inst,
        "provisioning",
        now,
        boot_seconds * PROVISION_FRACTION,
        actual=None,
        intended="running",
        cur="running",
        nxt="running",
        msg=None,
    )


def begin_scheduling(inst: Instance, now: float, boot_seconds: float) -> None:
    """Wants to run but the machine lacks free GPUs: shows as stopped until they free up."""
    inst.loading_duration = boot_seconds * RESTART_FRACTION
    inst.running_since = None
    _set(
        inst,
        "scheduling",
        now,
        0.0,
        actual="stopped",
        intended="running",
        cur="stopped",
        nxt="running",
        msg=SCHEDULING_MSG,
    )


def begin_unloading(inst: Instance, now: float, seconds: float) -> None:
    """Destroyed: the container is stopped and the contract released over `seconds`."""
    inst.running_since = None
    _set(
        inst,
        UNLOADING,
        now,
        seconds,
        actual="stopped",
        intended="stopped",
        cur=UNLOADED,
        nxt=UNLOADED,
        msg=UNLOADING_MSG,
    )


def advance(inst: Instance, machine: Machine, now: float) -> None:
    """Apply every transition that is due at `now`."""
    if inst.phase == UNLOADING:
        if now >= inst.phase_started + inst.phase_duration:
            inst.phase = UNLOADED
        return
    if inst.phase == "scheduling":
        if machine.free_gpus < inst.num_gpus:
            return
        machine.free_gpus -= inst.num_gpus
        inst.gpus_held = True
        _enter_loading(inst, now, inst.loading_duration)
    while True:
        end = inst.phase_started + inst.phase_duration
        if inst.phase in ("provisioning", "rebooting"):
            if now < end:
                return
            _enter_loading(inst, end, inst.loading_duration)
        elif inst.phase == "loading":
            if machine.never_boot or now < end:
                return
            if machine.oci_error:
                container.write(inst, end, OCI_ERROR_MSG)  # the daemon's error, in the log too
                _set(
                    inst,
                    "failed",
                    end,
                    0.0,
                    actual="created",
                    intended="running",
                    cur="running",
                    nxt="running",
                    msg=OCI_ERROR_MSG,
                )
                return
            _enter_running(inst, end)
        elif inst.phase == "running" and inst.exit_at is not None:
            if now < inst.exit_at:
                return
            exit_container(inst, inst.exit_at, inst.exit_code or 0)
            return
        else:
            return


def release_gpus(inst: Instance, machine: Machine) -> None:
    if inst.gpus_held:
        machine.free_gpus = min(machine.total_gpus, machine.free_gpus + inst.num_gpus)
        inst.gpus_held = False


def stop(inst: Instance, machine: Machine, now: float) -> None:
    """Stop the container and give its GPUs back to the machine (the disk stays)."""
    release_gpus(inst, machine)
    inst.running_since = None
    _set(
        inst,
        "stopped",
        now,
        0.0,
        actual="stopped",
        intended="stopped",
        cur="stopped",
        nxt="stopped",
        msg=None,
    )


def start(inst: Instance, machine: Machine, now: float, boot_seconds: float) -> None:
    """Start a stopped (or failed) instance; waits in scheduling if its GPUs were taken."""
    if inst.phase in ("running", "provisioning", "loading", "rebooting"):
        return
    if not inst.gpus_held:
        if machine.free_gpus < inst.num_gpus:
            begin_scheduling(inst, now, boot_seconds)
            return
        machine.free_gpus -= inst.num_gpus
        inst.gpus_held = True
    inst.loading_duration = boot_seconds * RESTART_FRACTION
    inst.running_since = None
    _enter_loading(inst, now, inst.loading_duration)


def reboot(inst: Instance, now: float, boot_seconds: float) -> None:
    """docker stop/start in place, keeping the GPUs."""
    inst.loading_duration = boot_seconds * REBOOT_FRACTION
    inst.running_since = None
    _set(
        inst,
        "rebooting",
        now,
        boot_seconds * REBOOT_FRACTION,
        actual="rebooting",
        intended="running",
        cur="running",
        nxt="running",
        msg="Rebooting",
    )


def force_status(inst: Instance, actual: str | None, msg: str | None, now: float) -> None:
    """Admin override: freeze the instance in `actual` until the next user action."""
    inst.phase = "forced"
    inst.exit_at = None
    inst.phase_started = now
    inst.phase_duration = 0.0
    inst.actual_status = actual
    inst.status_msg = msg
    if actual == "stopped":
        inst.cur_state = "stopped"
        inst.next_state = "stopped"
    if actual != "running":
        inst.running_since = None
    elif inst.running_since is None:
        inst.running_since = now


def internal_ports(inst: Instance) -> list[str]:
    """Container ports ("22/tcp", "8000/tcp", ...) the instance exposes."""
    ports: list[str] = []
    tokens = inst.runtype.split()
    if any(t.startswith("ssh") for t in tokens) or any(t.startswith("jupyter") for t in tokens):
        ports.append("22/tcp")
    if any(t.startswith("jupyter") for t in tokens):
        ports.append("8080/tcp")
    for key in inst.env:
        if not key.startswith("-p "):
            continue
        spec = key[3:].strip()
        inner = spec.split(":")[-1]
        if "/" not in inner:
            inner += "/tcp"
        if inner not in ports:
            ports.append(inner)
    return ports


def port_map(inst: Instance, machine: Machine) -> dict[str, list[JSONDict]] | None:
    """Docker-style `ports` of a running instance (string HostPort), else None."""
    if inst.actual_status != "running":
        return None
    count = int(machine.hw.get("direct_port_count") or 0)
    if count <= 0:
        return {}
    base = port_base(inst, machine)
    mapping: dict[str, list[JSONDict]] = {}
    offset = 0
    for port in internal_ports(inst):
        number = int(port.split("/")[0])
        if number >= 70000:
            host = number
        else:
            host = base + offset
            offset += 1
        mapping[port] = [
            {"HostIp": "0.0.0.0", "HostPort": str(host)},
            {"HostIp": "::", "HostPort": str(host)},
        ]
    return mapping


def port_base(inst: Instance, machine: Machine) -> int:
    count = int(machine.hw.get("direct_port_count") or 0)
    span = max(1, count - 16)
    return machine.port_range_start + (inst.id * 13) % span
