"""Renting a VastInstance: volumes to pin to, the offer search, the choice, the rent call.

The loop calls `rent` only when no instance exists, the finalizer is on the object and no
earlier rent may still land. The intent is written (`ctx.intend`) before every rent call.
"""

from __future__ import annotations

from dataclasses import dataclass

from ... import placement_queue
from ...api.instance import Phase, VastInstanceSpec, VastInstanceStatus
from ...api.instance_parts import MountedVolume as VolumeShown
from ...kube import Kube
from ...poller import label_for
from ...vast import errors as verr
from ...vast.models import CreateInstanceRequest, Instance, Offer, build_env
from ...vast.models import VolumeMount as VastVolumeMount
from ...vast.query import OfferQuery
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
    queue, key = account.placement, placement_queue.query_key(query)
    if queue.join(ctx.uid, key) or w.s.phase != Phase.SEARCHING:
        position, queued = queue.position(ctx.uid)
        w.s.phase, w.s.message = Phase.SEARCHING, queue_message(position, queued)
        await w.flush()  # the queue is paced by Vast: say where the object stands, at once
    queue.prefetch(key, query)
    if not await queue.wait_turn(ctx.uid, lambda: ctx.being_deleted):
        return CreateResult(ctx.tuning.idle_interval)  # deleted while queued: nothing rented
    try:
        return await rent_at_front(ctx, query, key, pin, failed, refused)
    finally:
        queue.leave(ctx.uid)


def queue_message(position: int, queued: int) -> str:
    if position <= 1:
        return "searching the market for an offer"
    return (
        f"waiting for an offer: position {position} of {queued} in this account's placement "
        "queue (rents are paced by Vast)"
    )


async def rent_at_front(
    ctx: InstanceCtx,
    query: OfferQuery,
    key: str,
    pin: VolumePin,
    failed: list[int],
    refused: list[int],
) -> CreateResult[Instance]:
    """At the front of the queue: an offer from the shared search, then the rent."""
    spec, w, account = ctx.spec, ctx.w, ctx.account
    queue = account.placement
    result = await queue.results(key, query)
    choice = fitting(ctx, result, query, failed, refused)
    if not choice.offers and (result.given or result.started_at < ctx.clock() - 1.0):
        # The queue has run through the offers of this result that fit: search again.
        result = await queue.search_again(key, query, result)
        choice = fitting(ctx, result, query, failed, refused)
    if not choice.offers:
        if choice.reason is None:
            msg = "every matching offer is being rented by another object; searching again soon"
            w.s.phase, w.s.message = Phase.SEARCHING, msg
            return CreateResult(ctx.tuning.busy_interval)
        w.s.phase, w.s.message = Phase.SEARCHING, choice.message
        w.ready(False, Reason(choice.reason), choice.message)
        w.synced(True)
        return CreateResult(ctx.tuning.no_offer_interval)

    env = await env_values(ctx.kube, ctx.namespace, spec)
    request = rent_request(spec, ctx.uid, env, pin, ctx.tuning.cluster_id)
    short = await credit_low(ctx, choice.offers[0])
    if short is not None:
        return CreateResult(short)
    refusals: list[str] = []
    tried = 0
    for offer in choice.offers:
        if tried >= OFFERS_PER_PASS:
            break
        if ctx.being_deleted:
            return CreateResult(ctx.tuning.idle_interval)  # deleted while waiting to rent
        if not queue.give(result, offer.id):
            continue  # given to an object ahead of us in the queue
        if not account.claim_offer(offer.id, ctx.clock()):
            continue  # another object is renting it (from another search)
        tried += 1
        await ctx.intend(
            Phase.CREATING,
            Reason.CREATING,
            f"renting offer {offer.id} ({offer.gpu_name}) on machine {offer.machine_id}",
            offer_id=offer.id,
        )
        try:
            created = await account.client.create_instance(offer.id, request)
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
        # under the same offer id in a later search, and another object may take them).
        account.release_offer(offer.id)
        record_rent(ctx, offer, created.new_contract, pin)
        # Its boot rides along on the partial listings other rents ask for (poller.py), and
        # usually shows there before its own next pass.
        busy = ctx.tuning.busy_interval
        account.poller.watch(label_for(ctx.uid, ctx.tuning.cluster_id), ctx.clock() + 2 * busy)
        return CreateResult(busy)
    if refusals:
        msg = f"Vast refused {'; '.join(refusals)}; searching again without them"
        w.phase(Phase.SEARCHING, Reason.VAST_REJECTED, msg)
        w.synced(True)
        return CreateResult(ctx.tuning.busy_interval)
    msg = "every candidate offer was taken before it could be rented; searching again"
    w.s.phase, w.s.message = Phase.SEARCHING, msg
    return CreateResult(0.5)


def fitting(
    ctx: InstanceCtx,
    result: placement_queue.Result,
    query: OfferQuery,
    failed: list[int],
    refused: list[int],
) -> placement.Choice:
    """The offers of `result` this object may rent: not given to another object, not claimed,
    and fitting its own spec (price cap, disk, ports). Reason None: all were taken."""
    account, cap = ctx.account, ctx.tuning.global_price_cap
    held = account.held_offers(ctx.clock())
    left = [o for o in result.left() if o.id not in held]
    choice = placement.choose(
        left, ctx.spec, query, exclude_machines=failed, exclude_offers=refused, global_cap=cap
    )
    if choice.offers or len(left) == len(result.offers):
        return choice
    whole = placement.choose(
        result.offers,
        ctx.spec,
        query,
        exclude_machines=failed,
        exclude_offers=refused,
        global_cap=cap,
    )
    return whole if not whole.offers else placement.Choice((), None, "")


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
