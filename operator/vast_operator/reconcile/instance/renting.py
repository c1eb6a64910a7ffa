"""Renting a VastInstance: volumes to pin to, the offer search, the choice, the rent call.

The loop calls `rent` only when no instance exists, the finalizer is on the object and no
earlier rent may still land. The intent is written (`ctx.intend`) before every rent call.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...api.instance import Phase, VastInstanceSpec, VastInstanceStatus
from ...api.instance_parts import MountedVolume as VolumeShown
from ...kube import Kube
from ...poller import label_for
from ...vast import errors as verr
from ...vast.models import CreateInstanceRequest, Instance, Offer, build_env
from ...vast.models import VolumeMount as VastVolumeMount
from .. import placement
from ..adapter import CreateResult, Ctx
from ..conditions import Reason
from ..errors import SecretMissing
from ..timefmt import iso
from .credit_guard import credit_low
from .rules import (
    OFFERS_PER_PASS,
    offer_refusal,
    refuse_offer,
    rent_fingerprint,
    retire,
    runtype_for,
)

InstanceCtx = Ctx[VastInstanceSpec, VastInstanceStatus]


@dataclass(frozen=True)
class VolumePin:
    """The machine the object's volumes live on, their mounts, or why we must wait."""

    machine: int | None = None
    mounts: tuple[VastVolumeMount, ...] = ()
    shown: tuple[VolumeShown, ...] = ()
    wait: str | None = None


async def volume_pin(kube: Kube, namespace: str, spec: VastInstanceSpec) -> VolumePin:
    if not spec.volumes:
        return VolumePin()
    machine: int | None = None
    mounts: list[VastVolumeMount] = []
    shown: list[VolumeShown] = []
    for ref in spec.volumes:
        vol = await kube.get_object("vastvolumes", namespace, ref.name)
        vstatus = (vol or {}).get("status") or {}
        if vol is None or vstatus.get("phase") != "Available" or not vstatus.get("volumeId"):
            return VolumePin(wait=f"waiting for VastVolume {ref.name} to be Available")
        if (vol.get("metadata") or {}).get("deletionTimestamp"):
            return VolumePin(wait=f"VastVolume {ref.name} is being deleted")
        vm = vstatus.get("machineId")
        if machine is not None and vm != machine:
            return VolumePin(wait="the volumes live on different machines")
        machine = vm
        mounts.append(VastVolumeMount(volume_id=int(vstatus["volumeId"]), path=ref.mount_path))
        shown.append(
            VolumeShown(
                name=ref.name, volume_id=str(vstatus["volumeId"]), mount_path=ref.mount_path
            )
        )
    return VolumePin(machine, tuple(mounts), tuple(shown))


async def env_values(kube: Kube, namespace: str, spec: VastInstanceSpec) -> dict[str, str]:
    values: dict[str, str] = {}
    for var in spec.env or []:
        if var.value is not None:
            values[var.name] = var.value
        elif var.value_from is not None:
            ref = var.value_from.secret_key_ref
            value = await kube.get_secret_value(namespace, ref.name, ref.key)
            if value is None:
                raise SecretMissing(f"env {var.name}: Secret {namespace}/{ref.name} key {ref.key}")
            values[var.name] = value
    return values


def rent_request(
    spec: VastInstanceSpec,
    uid: str,
    env: dict[str, str],
    pin: VolumePin,
    cluster: str | None = None,
) -> CreateInstanceRequest:
    return CreateInstanceRequest(
        image=spec.image,
        disk=float(spec.disk),
        env=build_env(env, ports=spec.ports or [], volumes=list(pin.mounts)),
        onstart=spec.onstart,
        runtype=runtype_for(spec),
        args=list(spec.args) if spec.args is not None else None,
        label=label_for(uid, cluster),
        price=spec.bid_per_hour if spec.type == "interruptible" else None,
        template_hash_id=spec.template_hash,
        cancel_unavail=True,
    )


async def rent(ctx: InstanceCtx) -> CreateResult[Instance]:
    """Search, choose and rent one offer. Returns how long to wait before the next pass."""
    spec, w, account = ctx.spec, ctx.w, ctx.account
    pin = await volume_pin(ctx.kube, ctx.namespace, spec)
    if pin.wait is not None:
        w.phase(Phase.PENDING, Reason.WAITING_FOR_VOLUME, pin.wait)
        w.synced(True)
        return CreateResult(ctx.tuning.busy_interval * 3)
    failed = [int(m) for m in w.s.failed_machines or []]
    if w.s.refused_offers and w.s.observed_generation != w.generation:
        w.s.refused_offers = None  # the spec changed: an offer refused for the old one may do
    refused = [int(o) for o in w.s.refused_offers or []]
    cap = ctx.tuning.global_price_cap
    if placement.price_cap(spec, cap) is None:
        # A misspelt maxPricePerHour reaches us as no cap at all: never rent without one.
        msg = (
            "no price cap: set spec.maxPricePerHour, or give the operator a default "
            "(--max-price-per-hour); nothing is rented without one"
        )
        w.phase(Phase.PENDING, Reason.NO_PRICE_CAP, msg)
        w.synced(False, Reason.NO_PRICE_CAP, msg)  # only a person can end it
        return CreateResult(ctx.tuning.idle_interval)
    query = placement.build_query(
        spec,
        pinned_machine=pin.machine,
        exclude_machines=failed,
        exclude_offers=refused,
        global_cap=cap,
    )
    if w.s.phase != Phase.SEARCHING:
        w.s.phase, w.s.message = Phase.SEARCHING, "searching the market for an offer"
        await w.flush()  # searches are paced: say so while this one waits its turn
    offers = await account.client.search_offers(query)
    choice = placement.choose(
        offers, spec, query, exclude_machines=failed, exclude_offers=refused, global_cap=cap
    )
    if not choice.offers:
        w.s.phase, w.s.message = Phase.SEARCHING, choice.message
        w.ready(False, Reason(choice.reason or Reason.NO_MATCHING_OFFER), choice.message)
        w.synced(True)
        return CreateResult(ctx.tuning.no_offer_interval)

    env = await env_values(ctx.kube, ctx.namespace, spec)
    request = rent_request(spec, ctx.uid, env, pin, ctx.tuning.cluster_id)
    held = account.held_offers(ctx.clock())
    candidates = [o for o in choice.offers if o.id not in held]
    if not candidates:
        msg = "every matching offer is being rented by another object; searching again soon"
        w.s.phase, w.s.message = Phase.SEARCHING, msg
        return CreateResult(ctx.tuning.busy_interval)
    short = await credit_low(ctx, candidates[0])
    if short is not None:
        return CreateResult(short)
    refusals: list[str] = []
    for offer in candidates[:OFFERS_PER_PASS]:
        if ctx.being_deleted:
            return CreateResult(ctx.tuning.idle_interval)  # deleted while waiting to rent
        if not account.claim_offer(offer.id, ctx.clock()):
            continue  # another object took it while we waited for the rent slot
        await ctx.intend(
            Phase.CREATING,
            Reason.CREATING,
            f"renting offer {offer.id} ({offer.gpu_name}) on machine {offer.machine_id}",
            offer_id=offer.id,
        )
        try:
            result = await account.client.create_instance(offer.id, request)
        except verr.OfferUnavailableError as exc:
            ctx.event("OfferGone", f"offer {offer.id} was taken; trying the next one")
            if exc.new_contract is not None:
                await destroy_refused_contract(ctx, exc.new_contract)
            continue  # the claim stays: the offer is gone for everyone
        except verr.CreateOutcomeUnknownError:
            raise  # the loop records it and waits out the settle window
        except verr.VastError as exc:
            # Vast answered (no outcome is unknown): the rent is not in flight any more.
            account.release_offer(offer.id)
            w.s.phase, w.s.creating_since = Phase.SEARCHING, None
            if exc.new_contract is not None:
                await destroy_refused_contract(ctx, exc.new_contract)
            if not offer_refusal(exc):
                raise  # every offer would refuse it: the loop reports it and backs off
            refuse_offer(w.s, offer.id)
            refusals.append(f"offer {offer.id}: {exc.message}")
            ctx.event(
                "OfferRefused",
                f"Vast refused offer {offer.id} ({exc.message}); it is not tried again",
                warning=True,
            )
            continue
        # Rented: the claim has done its job (Vast may list the machine's remaining GPUs
        # under the same offer id, and another object may take them).
        account.release_offer(offer.id)
        record_rent(ctx, offer, result.new_contract, pin)
        return CreateResult(ctx.tuning.busy_interval)
    if refusals:
        msg = f"Vast refused {'; '.join(refusals)}; searching again without them"
        w.phase(Phase.SEARCHING, Reason.VAST_REJECTED, msg)
        w.synced(True)
        return CreateResult(ctx.tuning.busy_interval)
    msg = "every candidate offer was taken before it could be rented; searching again"
    w.s.phase, w.s.message = Phase.SEARCHING, msg
    return CreateResult(0.5)


async def destroy_refused_contract(ctx: InstanceCtx, contract: int) -> None:
    """Vast refused the rent but reported an instance: it must not live on."""
    await ctx.account.client.destroy_instance(contract, missing_ok=True)
    retire(ctx.w.s, contract)
    ctx.event(
        "CreateRejected",
        f"Vast refused the rent but allocated {contract}; destroyed it",
        warning=True,
    )


def record_rent(ctx: InstanceCtx, offer: Offer, instance_id: int, pin: VolumePin) -> None:
    now = iso(ctx.clock())
    s = ctx.w.s
    s.outcome_unknown_since = None
    s.instance_id = instance_id
    s.offer_id = offer.id
    s.machine_id = offer.machine_id
    s.host_id = offer.host_id
    s.gpu_name = offer.gpu_name
    s.num_gpus = offer.num_gpus
    s.price_per_hour = offer.dph_total
    s.attempts = int(s.attempts or 0) + 1
    s.creating_since = now
    s.observed_at = now
    s.volumes = list(pin.shown) or None
    s.attached_ssh_keys = None
    s.rented_with = rent_fingerprint(ctx.spec)
    msg = f"rented instance {instance_id} on machine {offer.machine_id}"
    ctx.w.phase(Phase.LOADING, Reason.LOADING, msg)
    ctx.w.synced(True)
    price = f"${offer.dph_total:.3f}/h" if offer.dph_total is not None else "unknown price"
    ctx.event(
        "Created",
        f"rented instance {instance_id}: {offer.num_gpus}x {offer.gpu_name} on machine "
        f"{offer.machine_id} at {price}",
    )
