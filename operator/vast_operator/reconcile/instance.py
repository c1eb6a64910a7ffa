"""The managed-resource cycle for VastInstance: observe, create, update, delete.

Money rules (DESIGN.md §2) and where they live here:

1. One rental per object. Every instance carries the label `k8s-vast-operator:<uid>`. Before a
   rent the intent is written to status (phase Creating, offer, time) and a listing newer than
   the last intent must show no labelled instance; a crash after Vast said yes is healed by
   adopting the labelled instance. Extra labelled instances are destroyed.
2. Deletion is never skipped: `delete()` destroys every instance of the object (status id and
   label) and reports done only when a fresh listing shows none of them.
3. Re-placement: exited/offline/unknown, an OCI error, or loading past bootTimeout destroys the
   instance, remembers the machine, and rents elsewhere up to placement.maxAttempts.
4. Prices: offers above the cap are never rented; the bid never exceeds it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import SecretStr, ValidationError

from ..accounts import Account, Accounts
from ..api import instance as api
from ..api.common import ANNOTATION_INSTANCE_ID, parse_duration
from ..api.instance import Phase, VastInstanceSpec
from ..kube import Kube
from ..poller import Snapshot, SnapshotUnavailable, label_for
from ..vast import errors as verr
from ..vast.models import CreateInstanceRequest, Instance, Offer, build_env
from ..vast.models import VolumeMount as VastVolumeMount
from . import placement
from .base import (
    CredentialsMissing,
    EventSink,
    ManagedReconciler,
    StatusWriter,
    Tuning,
    iso,
    key_fingerprint,
    parse_iso,
)
from .conditions import READY, Reason

log = logging.getLogger("vast_operator.instance")

FAILED_STATUSES = frozenset({"exited", "offline", "unknown"})
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


def phase_for(inst: Instance, desired: str) -> tuple[Phase, str, str]:
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
    if not inst.ports or not inst.public_ipaddr:
        return None
    result = []
    wanted = set(ports) | {22}
    for key, bindings in sorted(inst.ports.items()):
        internal, _, proto = key.partition("/")
        if not internal.isdigit() or int(internal) not in wanted:
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


def runtype_for(spec: VastInstanceSpec) -> str:
    if spec.runtype == "args":
        return "args"
    if spec.runtype == "jupyter":
        return "jupyter_direc ssh_direc ssh_proxy" if spec.direct_ssh else "jupyter_proxy ssh_proxy"
    return "ssh_direc ssh_proxy" if spec.direct_ssh else "ssh_proxy"


class InstanceReconciler(ManagedReconciler[VastInstanceSpec]):
    plural = api.PLURAL
    spec_model = VastInstanceSpec

    def __init__(
        self,
        accounts: Accounts,
        kube: Kube,
        events: EventSink,
        default_api_key: SecretStr | None,
        tuning: Tuning,
        clock: Callable[[], float] = time.time,
        on_replace: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(accounts, kube, events, default_api_key, tuning, clock)
        self.on_replace = on_replace
        # When this process last decided to rent for an object. A listing older than that
        # cannot prove absence, even if the object we were handed is a stale copy.
        self._last_intent: dict[str, float] = {}
        self.deleting: set[str] = set()

    # --- helpers --------------------------------------------------------------------------

    def _event(
        self, body: Mapping[str, Any], reason: str, message: str, warning: bool = False
    ) -> None:
        self.events(body, "Warning" if warning else "Normal", reason, message)

    # --- the cycle ------------------------------------------------------------------------

    def skip(self, body: Mapping[str, Any]) -> bool:
        meta = body["metadata"]
        return bool(meta.get("deletionTimestamp")) or meta["uid"] in self.deleting

    async def _snapshot(self, account: Account, w: StatusWriter, uid: str) -> Snapshot:
        """A listing recent enough to trust absence: newer than our last rent or adoption."""
        since = parse_iso(w.get("creatingSince"))
        if w.get("instanceId") is not None or w.get("phase") == Phase.CREATING:
            since = max(since or 0.0, parse_iso(w.get("observedAt")) or 0.0) or None
        intent = self._last_intent.get(uid)
        if intent is not None:
            since = max(since or 0.0, intent)
        return await account.poller.snapshot(newer_than=since)

    def _managed(
        self, body: Mapping[str, Any], w: StatusWriter, snap: Snapshot
    ) -> tuple[Instance | None, list[Instance]]:
        """The instance this object owns, and extra ones that must not exist."""
        uid = body["metadata"]["uid"]
        retired = set(w.get("retiredInstanceIds") or [])
        found = {i.id: i for i in snap.for_uid(uid) if i.id not in retired}
        current = w.get("instanceId")
        if current is not None and current in snap.by_id and current not in retired:
            found[current] = snap.by_id[current]
        if not found:
            return None, []
        keep_id = current if current in found else min(found)
        keep = found.pop(keep_id)
        return keep, list(found.values())

    async def cycle(
        self, body: Mapping[str, Any], spec: VastInstanceSpec, w: StatusWriter
    ) -> float:
        account = await self.account(body, spec)
        client = account.client
        now = self.clock()

        # Adoption through the annotation: take an existing instance under management.
        annotations = body["metadata"].get("annotations") or {}
        adopt = annotations.get(ANNOTATION_INSTANCE_ID)
        if adopt and w.get("instanceId") is None and str(adopt).isdigit():
            found = await client.get_instance(int(adopt))
            if found is None:
                w.synced(False, Reason.INSTANCE_LOST, f"instance {adopt} to adopt does not exist")
                return self.tuning.idle_interval
            # Record it before labelling: from here on, deleting the object destroys it.
            w.set(instanceId=found.id, observedAt=iso(now), creatingSince=None)
            await w.flush()
            await client.label_instance(found.id, label_for(body["metadata"]["uid"]))
            self._event(body, "Adopted", f"adopted existing Vast instance {found.id}")

        snap = await self._snapshot(account, w, body["metadata"]["uid"])
        inst, extras = self._managed(body, w, snap)
        for extra in extras:
            await client.destroy_instance(extra.id, missing_ok=True)
            self._retire(w, extra.id)
            self._event(
                body, "DuplicateDestroyed", f"destroyed duplicate instance {extra.id}", warning=True
            )

        if inst is None:
            return await self._absent(body, spec, w, account, snap)
        return await self._present(body, spec, w, account, inst)

    def _retire(self, w: StatusWriter, instance_id: int) -> None:
        retired = list(w.get("retiredInstanceIds") or [])
        if instance_id not in retired:
            retired.append(instance_id)
        w.set(retiredInstanceIds=retired[-MAX_RETIRED:])

    # --- no instance ----------------------------------------------------------------------

    async def _absent(
        self,
        body: Mapping[str, Any],
        spec: VastInstanceSpec,
        w: StatusWriter,
        account: Account,
        snap: Snapshot,
    ) -> float:
        lost = w.get("instanceId")
        if lost is not None:
            # It was ours and a listing newer than our last look no longer has it.
            self._retire(w, lost)
            w.set(
                instanceId=None,
                sshHost=None,
                sshPort=None,
                publicIp=None,
                ports=None,
                actualStatus=None,
                creatingSince=None,
            )
            if w.get("expiredAt") is None:
                msg = f"instance {lost} was destroyed outside the operator; renting again"
                self._event(body, "InstanceLost", msg, warning=True)
                w.set(message=msg)
                w.condition(READY, False, Reason.INSTANCE_LOST, msg)

        if w.get("expiredAt") is not None and w.get("observedGeneration") != w.generation:
            # The spec changed after the lifetime ran out: the user wants it again.
            w.set(expiredAt=None, startedAt=None, attempts=0, failedMachines=None)
        if w.get("expiredAt") is not None:
            msg = f"spec.lifetime {spec.lifetime} ran out; the instance was destroyed"
            w.set(phase=Phase.STOPPED, message=msg)
            w.condition(READY, False, Reason.LIFETIME_EXPIRED, msg)
            w.synced(True)
            return self.tuning.idle_interval * 10

        if w.get("phase") == Phase.FAILED and w.get("observedGeneration") == w.generation:
            return self.tuning.idle_interval * 10
        if w.get("phase") == Phase.FAILED:  # the spec changed: try again from scratch
            w.set(attempts=0, failedMachines=None)

        if spec.state == "Stopped":
            msg = "not rented while spec.state is Stopped"
            w.set(phase=Phase.STOPPED, message=msg)
            w.condition(READY, True, Reason.NOT_RENTED, msg)
            w.synced(True)
            return self.tuning.idle_interval

        attempts = int(w.get("attempts") or 0)
        if attempts >= spec.placement.max_attempts:
            msg = (
                f"gave up after {attempts} instances failed "
                f"(machines {w.get('failedMachines') or []}); change the spec to try again"
            )
            w.set(phase=Phase.FAILED, message=msg)
            w.condition(READY, False, Reason.MAX_ATTEMPTS, msg)
            w.synced(True)
            self._event(body, "Failed", msg, warning=True)
            return self.tuning.idle_interval * 10

        unknown_since = self._unknown_since(w)
        if unknown_since is not None:
            settle_until = unknown_since + self.tuning.create_settle
            wait = settle_until - self.clock()
            if wait > 0:
                w.set(
                    phase=Phase.CREATING,
                    message=f"the last rent may still land on Vast; checking again in {wait:.0f}s",
                )
                return min(wait + 0.1, self.tuning.busy_interval)
            snap = await account.poller.snapshot(newer_than=settle_until)
            inst, _ = self._managed(body, w, snap)
            if inst is not None:
                w.set(outcomeUnknownSince=None)
                return await self._present(body, spec, w, account, inst)
            w.set(outcomeUnknownSince=None)

        return await self._create(body, spec, w, account)

    async def _volume_pin(
        self, body: Mapping[str, Any], spec: VastInstanceSpec, w: StatusWriter
    ) -> tuple[int | None, list[VastVolumeMount], list[dict[str, str]], str | None]:
        """Machine the volumes live on, their mounts, and why we must wait (if we must)."""
        if not spec.volumes:
            return None, [], [], None
        ns = body["metadata"]["namespace"]
        machine: int | None = None
        mounts: list[VastVolumeMount] = []
        shown: list[dict[str, str]] = []
        for ref in spec.volumes:
            vol = await self.kube.get_object("vastvolumes", ns, ref.name)
            vstatus = (vol or {}).get("status") or {}
            if vol is None or vstatus.get("phase") != "Available" or not vstatus.get("volumeId"):
                return None, [], [], f"waiting for VastVolume {ref.name} to be Available"
            if (vol.get("metadata") or {}).get("deletionTimestamp"):
                return None, [], [], f"VastVolume {ref.name} is being deleted"
            vm = vstatus.get("machineId")
            if machine is not None and vm != machine:
                return None, [], [], "the volumes live on different machines"
            machine = vm
            mounts.append(VastVolumeMount(volume_id=int(vstatus["volumeId"]), path=ref.mount_path))
            shown.append(
                {
                    "name": ref.name,
                    "volumeId": str(vstatus["volumeId"]),
                    "mountPath": ref.mount_path,
                }
            )
        return machine, mounts, shown, None

    async def _env(self, body: Mapping[str, Any], spec: VastInstanceSpec) -> dict[str, str]:
        ns = body["metadata"]["namespace"]
        values: dict[str, str] = {}
        for var in spec.env or []:
            if var.value is not None:
                values[var.name] = var.value
            elif var.value_from is not None:
                ref = var.value_from.secret_key_ref
                value = await self.kube.get_secret_value(ns, ref.name, ref.key)
                if value is None:
                    raise CredentialsMissing(
                        f"env {var.name}: Secret {ns}/{ref.name} key {ref.key}"
                    )
                values[var.name] = value
        return values

    async def _create(
        self, body: Mapping[str, Any], spec: VastInstanceSpec, w: StatusWriter, account: Account
    ) -> float:
        meta = body["metadata"]
        if self.tuning.finalizer not in (meta.get("finalizers") or []):
            return self.tuning.busy_interval  # kopf adds it first; never rent without it
        machine, mounts, shown_volumes, wait = await self._volume_pin(body, spec, w)
        if wait is not None:
            w.set(phase=Phase.PENDING, message=wait)
            w.condition(READY, False, Reason.WAITING_FOR_VOLUME, wait)
            w.synced(True)
            return self.tuning.busy_interval * 3
        failed = [int(m) for m in w.get("failedMachines") or []]
        query = placement.build_query(
            spec,
            pinned_machine=machine,
            exclude_machines=failed,
            global_cap=self.tuning.global_price_cap,
        )
        if w.get("phase") != Phase.SEARCHING:
            w.set(phase=Phase.SEARCHING, message="searching the market for an offer")
            await w.flush()  # searches are paced: say so while this one waits its turn
        offers = await account.client.search_offers(query)
        choice = placement.choose(
            offers, spec, query, exclude_machines=failed, global_cap=self.tuning.global_price_cap
        )
        if not choice.offers:
            reason = choice.reason or Reason.NO_MATCHING_OFFER
            w.set(phase=Phase.SEARCHING, message=choice.message)
            w.condition(READY, False, reason, choice.message)
            w.synced(True)
            return self.tuning.no_offer_interval

        env = build_env(await self._env(body, spec), ports=spec.ports or [], volumes=mounts)
        request = CreateInstanceRequest(
            image=spec.image,
            disk=float(spec.disk),
            env=env,
            onstart=spec.onstart,
            runtype=runtype_for(spec),
            args=list(spec.args) if spec.args is not None else None,
            label=label_for(meta["uid"]),
            price=spec.bid_per_hour if spec.type == "interruptible" else None,
            template_hash_id=spec.template_hash,
            cancel_unavail=True,
        )
        held = account.held_offers(self.clock())
        candidates = [o for o in choice.offers if o.id not in held]
        if not candidates:
            msg = "every matching offer is being rented by another object; searching again soon"
            w.set(phase=Phase.SEARCHING, message=msg)
            return self.tuning.busy_interval
        for offer in candidates[:OFFERS_PER_PASS]:
            if meta.get("deletionTimestamp") or meta["uid"] in self.deleting:
                return self.tuning.idle_interval  # deleted while waiting to rent: stop here
            if not account.claim_offer(offer.id, self.clock()):
                continue  # another object took it while we waited for the rent slot
            # Intent first: if we die after Vast says yes, the next pass knows to look.
            self._last_intent[meta["uid"]] = self.clock()
            w.set(
                phase=Phase.CREATING,
                offerId=offer.id,
                creatingSince=iso(self.clock()),
                message=f"renting offer {offer.id} ({offer.gpu_name}) on machine "
                f"{offer.machine_id}",
            )
            w.condition(READY, False, Reason.CREATING, w.get("message"))
            await w.flush()
            try:
                result = await account.client.create_instance(offer.id, request)
            except verr.OfferUnavailableError:
                self._event(body, "OfferGone", f"offer {offer.id} was taken; trying the next one")
                continue  # the claim stays: the offer is gone for everyone
            except verr.PermanentError:
                account.release_offer(offer.id)
                raise
            except verr.CreateOutcomeUnknownError as exc:
                msg = f"rent of offer {offer.id} has an unknown outcome ({exc}); checking Vast"
                w.set(message=msg, outcomeUnknownSince=iso(self.clock()))
                w.synced(False, Reason.VAST_UNAVAILABLE, msg)
                return self.tuning.busy_interval
            except verr.VastError as exc:
                # Vast answered (no outcome is unknown): the rent is not in flight any more.
                w.set(phase=Phase.SEARCHING, creatingSince=None)
                if exc.new_contract is not None:
                    await account.client.destroy_instance(exc.new_contract, missing_ok=True)
                    self._retire(w, exc.new_contract)
                    self._event(
                        body,
                        "CreateRejected",
                        f"Vast refused the rent but allocated {exc.new_contract}; destroyed it",
                        warning=True,
                    )
                raise
            # Rented: the claim has done its job (Vast may list the machine's remaining GPUs
            # under the same offer id, and another object may take them).
            account.release_offer(offer.id)
            self._record_rent(body, w, offer, result.new_contract, shown_volumes)
            return self.tuning.busy_interval
        msg = "every candidate offer was taken before it could be rented; searching again"
        w.set(phase=Phase.SEARCHING, message=msg)
        return 0.5

    def _record_rent(
        self,
        body: Mapping[str, Any],
        w: StatusWriter,
        offer: Offer,
        instance_id: int,
        volumes: list[dict[str, str]],
    ) -> None:
        now = self.clock()
        w.set(
            outcomeUnknownSince=None,
            instanceId=instance_id,
            offerId=offer.id,
            machineId=offer.machine_id,
            hostId=offer.host_id,
            gpuName=offer.gpu_name,
            numGpus=offer.num_gpus,
            pricePerHour=offer.dph_total,
            phase=Phase.LOADING,
            attempts=int(w.get("attempts") or 0) + 1,
            creatingSince=iso(now),
            observedAt=iso(now),
            volumes=volumes or None,
            attachedSshKeys=None,
            message=f"rented instance {instance_id} on machine {offer.machine_id}",
        )
        w.condition(READY, False, Reason.LOADING, w.get("message"))
        w.synced(True)
        price = f"${offer.dph_total:.3f}/h" if offer.dph_total is not None else "unknown price"
        self._event(
            body,
            "Created",
            f"rented instance {instance_id}: {offer.num_gpus}x {offer.gpu_name} on machine "
            f"{offer.machine_id} at {price}",
        )

    # --- an instance exists ---------------------------------------------------------------

    async def _present(
        self,
        body: Mapping[str, Any],
        spec: VastInstanceSpec,
        w: StatusWriter,
        account: Account,
        inst: Instance,
    ) -> float:
        now = self.clock()
        client = account.client
        if w.get("instanceId") != inst.id:
            self._event(body, "Adopted", f"found instance {inst.id} labelled for this object")
            w.set(
                instanceId=inst.id,
                outcomeUnknownSince=None,
                observedAt=iso(now),
                attempts=max(int(w.get("attempts") or 0), 1),
                creatingSince=w.get("creatingSince") or iso(now),
            )
        self._mirror(w, spec, inst)

        boot_timeout = parse_duration(spec.placement.boot_timeout).total_seconds()
        why = failure_reason(inst, parse_iso(w.get("creatingSince")), boot_timeout, now)
        if why is not None and spec.state == "Running":
            return await self._replace(body, spec, w, account, inst, why)

        if inst.actual_status == "running":
            if w.get("startedAt") is None:
                w.set(startedAt=iso(now))
            w.set(creatingSince=None)
            if spec.lifetime and w.get("startedAt"):
                started = parse_iso(w.get("startedAt")) or now
                if now - started >= parse_duration(spec.lifetime).total_seconds():
                    await client.destroy_instance(inst.id, missing_ok=True)
                    self._retire(w, inst.id)
                    w.set(
                        expiredAt=iso(now),
                        instanceId=None,
                        sshHost=None,
                        sshPort=None,
                        publicIp=None,
                        ports=None,
                        actualStatus=None,
                    )
                    msg = f"spec.lifetime {spec.lifetime} ran out; destroyed instance {inst.id}"
                    w.set(phase=Phase.STOPPED, message=msg)
                    w.condition(READY, False, Reason.LIFETIME_EXPIRED, msg)
                    w.synced(True)
                    self._event(body, "LifetimeExpired", msg)
                    return self.tuning.idle_interval

        # Desired power state.
        if spec.state == "Stopped" and inst.intended_status != "stopped":
            await client.stop_instance(inst.id)
            self._event(body, "Stopping", f"stopping instance {inst.id} (spec.state Stopped)")
            w.set(phase=Phase.STOPPING, message=f"stopping instance {inst.id}")
            w.condition(READY, False, Reason.STOPPING, w.get("message"))
            w.synced(True)
            return self.tuning.busy_interval
        if spec.state == "Running" and inst.intended_status == "stopped":
            await client.start_instance(inst.id)
            self._event(body, "Starting", f"starting instance {inst.id} (spec.state Running)")
            w.set(
                phase=Phase.LOADING, message=f"starting instance {inst.id}", creatingSince=iso(now)
            )
            w.condition(READY, False, Reason.LOADING, w.get("message"))
            w.synced(True)
            return self.tuning.busy_interval

        await self._sync_ssh_keys(body, spec, w, account, inst)

        phase, reason, message = phase_for(inst, spec.state)
        previous = w.get("phase")
        w.set(phase=phase, message=message)
        ready = phase == Phase.RUNNING or (phase == Phase.STOPPED and spec.state == "Stopped")
        w.condition(READY, ready, reason, message)
        w.synced(True)
        if phase != previous and phase in (Phase.RUNNING, Phase.STOPPED):
            where = f" at {inst.ssh_host}:{inst.ssh_port}" if phase == Phase.RUNNING else ""
            self._event(body, str(phase), f"instance {inst.id} is {phase.lower()}{where}")

        if phase == Phase.RUNNING and spec.write_connection_secret_to_ref is not None:
            await self._write_connection_secret(body, spec, inst)

        if phase in (Phase.RUNNING, Phase.STOPPED):
            return self.tuning.poll_interval
        return self.tuning.busy_interval

    def _mirror(self, w: StatusWriter, spec: VastInstanceSpec, inst: Instance) -> None:
        """Copy what Vast says into status (only facts; phase is decided elsewhere)."""
        running = inst.actual_status == "running"
        w.set(
            instanceId=inst.id,
            machineId=inst.machine_id or w.get("machineId"),
            hostId=inst.host_id or w.get("hostId"),
            gpuName=inst.gpu_name or w.get("gpuName"),
            numGpus=inst.num_gpus or w.get("numGpus"),
            pricePerHour=inst.dph_total if inst.dph_total is not None else w.get("pricePerHour"),
            actualStatus=inst.actual_status,
            sshHost=inst.ssh_host if running else None,
            sshPort=inst.ssh_port if running else None,
            publicIp=inst.public_ipaddr if running else None,
            ports=ports_status(inst, spec.ports or []) if running else None,
        )
        started = parse_iso(w.get("startedAt"))
        if running and started is not None and inst.dph_total is not None:
            hours = max(0.0, self.clock() - started) / 3600.0
            cost = round(hours * inst.dph_total, 2)
            old = w.get("accruedCost")
            if old is None or abs(cost - float(old)) >= max(0.05, 0.01 * cost):
                w.set(accruedCost=cost)

    async def _replace(
        self,
        body: Mapping[str, Any],
        spec: VastInstanceSpec,
        w: StatusWriter,
        account: Account,
        inst: Instance,
        why: str,
    ) -> float:
        await account.client.destroy_instance(inst.id, missing_ok=True)
        self._retire(w, inst.id)
        failed = list(w.get("failedMachines") or [])
        if inst.machine_id is not None and inst.machine_id not in failed:
            failed.append(inst.machine_id)
        w.set(
            failedMachines=failed,
            instanceId=None,
            sshHost=None,
            sshPort=None,
            publicIp=None,
            ports=None,
            actualStatus=None,
            creatingSince=None,
            startedAt=None,
        )
        attempts = int(w.get("attempts") or 0)
        if attempts >= spec.placement.max_attempts:
            msg = f"{why}; gave up after {attempts} attempts (placement.maxAttempts)"
            w.set(phase=Phase.FAILED, message=msg)
            w.condition(READY, False, Reason.MAX_ATTEMPTS, msg)
            self._event(body, "Failed", msg, warning=True)
            w.synced(True)
            return self.tuning.idle_interval * 10
        if self.on_replace is not None:
            self.on_replace()
        msg = f"{why}; destroyed it and renting on another machine"
        w.set(phase=Phase.SEARCHING, message=msg)
        w.condition(READY, False, Reason.REPLACING, msg)
        w.synced(True)
        self._event(body, "Replacing", msg, warning=True)
        return 0.2

    async def _wanted_keys(self, body: Mapping[str, Any], spec: VastInstanceSpec) -> list[str]:
        ns = body["metadata"]["namespace"]
        keys: list[str] = []
        for key in spec.ssh_keys or []:
            if key.public_key:
                keys.append(key.public_key.strip())
            elif key.secret_key_ref is not None:
                ref = key.secret_key_ref
                value = await self.kube.get_secret_value(ns, ref.name, ref.key)
                if value is None:
                    raise CredentialsMissing(f"sshKeys: Secret {ns}/{ref.name} key {ref.key}")
                keys.append(value.strip())
        return keys

    async def _sync_ssh_keys(
        self,
        body: Mapping[str, Any],
        spec: VastInstanceSpec,
        w: StatusWriter,
        account: Account,
        inst: Instance,
    ) -> None:
        wanted = await self._wanted_keys(body, spec)
        attached = list(w.get("attachedSshKeys") or [])
        wanted_fps = {key_fingerprint(k): k for k in wanted}
        for fp, key in wanted_fps.items():
            if fp not in attached:
                await account.client.attach_ssh_key(inst.id, key)
                attached.append(fp)
                self._event(body, "SSHKeyAttached", f"attached SSH key {fp} to {inst.id}")
        stale = [fp for fp in attached if fp not in wanted_fps]
        if stale:
            on_instance = await account.client.list_instance_ssh_keys(inst.id)
            for key_row in on_instance:
                if key_row.public_key and key_fingerprint(key_row.public_key) in stale:
                    await account.client.detach_ssh_key(inst.id, key_row.id)
            attached = [fp for fp in attached if fp in wanted_fps]
        w.set(attachedSshKeys=attached or None)

    async def _write_connection_secret(
        self, body: Mapping[str, Any], spec: VastInstanceSpec, inst: Instance
    ) -> None:
        ref = spec.write_connection_secret_to_ref
        assert ref is not None
        meta = body["metadata"]
        host, port = inst.ssh_host or "", inst.ssh_port or 0
        data = {
            "host": host,
            "port": str(port),
            "user": "root",
            "ssh": f"ssh -p {port} root@{host}",
            "instanceId": str(inst.id),
            "publicIp": inst.public_ipaddr or "",
        }
        owner = {
            "apiVersion": body.get("apiVersion", "vast.ai/v1alpha1"),
            "kind": body.get("kind", "VastInstance"),
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": False,
        }
        await self.kube.apply_secret(meta["namespace"], ref.name, data, owner)

    # --- deletion -------------------------------------------------------------------------

    @staticmethod
    def _unknown_since(w: StatusWriter) -> float | None:
        """Since when a rent may be landing on Vast without us knowing its outcome.

        Either a rent call failed without an answer, or a previous process recorded the intent
        (phase Creating) and died before it could record the result.
        """
        unknown = parse_iso(w.get("outcomeUnknownSince"))
        if unknown is None and w.get("phase") == Phase.CREATING and w.get("instanceId") is None:
            unknown = parse_iso(w.get("creatingSince"))
        return unknown

    @staticmethod
    def _ever_rented(w: StatusWriter) -> bool:
        return any(
            w.get(key)
            for key in (
                "instanceId",
                "offerId",
                "creatingSince",
                "outcomeUnknownSince",
                "attempts",
                "retiredInstanceIds",
            )
        )

    async def delete(self, body: Mapping[str, Any]) -> tuple[bool, str]:
        """Destroy everything this object rented. (True, msg) when Vast confirms it is gone."""
        meta = body["metadata"]
        uid = meta["uid"]
        self.deleting.add(uid)
        w = StatusWriter(self.kube, self.plural, body)
        spec: VastInstanceSpec | None
        try:
            spec = VastInstanceSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            spec = None
        policy = spec.deletion_policy if spec is not None else "Delete"
        if policy == "Orphan":
            msg = f"deletionPolicy Orphan: instance {w.get('instanceId')} left running on Vast"
            self._event(body, "Orphaned", msg, warning=True)
            self.deleting.discard(uid)
            return True, msg
        if not self._ever_rented(w):
            # Intent is written before every rent, so an object whose status never recorded
            # one cannot own anything on Vast: nothing to destroy, even with a broken key.
            self.deleting.discard(uid)
            return True, "nothing was ever rented for this object"
        try:
            account = await self.account(body, spec)
            # No rent starts once `deleting` is set, and in-flight ones finished under the
            # object's lock: a listing newer than the last intent shows everything ours.
            unknown = self._unknown_since(w)
            if unknown is not None:
                settle_until = unknown + self.tuning.create_settle
                if self.clock() < settle_until:
                    # A rent may still land on Vast: only a later listing can show it.
                    return False, "waiting: the last rent may still land on Vast"
                snap = await account.poller.snapshot(newer_than=settle_until)
            else:
                snap = await self._snapshot(account, w, uid)
            ids = {i.id for i in snap.for_uid(uid)}
            if w.get("instanceId") is not None:
                ids.add(int(w.get("instanceId")))
            if not ids:
                return True, "nothing rented on Vast"
            if w.get("phase") != Phase.DELETING:
                w.set(phase=Phase.DELETING, message=f"destroying instances {sorted(ids)}")
                w.condition(READY, False, Reason.DELETING, w.get("message"))
                await w.flush()
            for instance_id in sorted(ids):
                await account.client.destroy_instance(instance_id, missing_ok=True)
            after = self.clock()
            confirm = await account.poller.snapshot(newer_than=after)
            remaining = sorted(i for i in ids if i in confirm.by_id)
            if remaining:
                return False, f"Vast still lists instances {remaining}"
            self._event(body, "Destroyed", f"destroyed instances {sorted(ids)}")
            self.deleting.discard(uid)
            self._last_intent.pop(uid, None)
            return True, f"destroyed {sorted(ids)}"
        except (verr.VastError, CredentialsMissing, SnapshotUnavailable) as exc:
            reason = Reason.DELETE_FAILED
            msg = f"could not destroy the Vast instance yet: {exc}"
            w.synced(False, reason, msg)
            try:
                await w.flush()
            except Exception:
                log.debug("status write during deletion failed", exc_info=True)
            self._event(body, reason, msg, warning=True)
            return False, msg
