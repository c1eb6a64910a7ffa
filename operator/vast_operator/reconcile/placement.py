"""Where to rent: turn a VastInstance spec into an offer search, and pick among the answers.

Pure functions: no I/O, so every rule about money (price caps, bids, excluded machines) is
tested directly.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..api.instance import VastInstanceSpec
from ..vast.models import Offer
from ..vast.query import OfferQuery, offer_matches

DEFAULT_ORDER: tuple[tuple[str, str], ...] = (("dph_total", "asc"),)

# GPU models as Vast spells them (with spaces); hints for a gpuName that matches nothing.
KNOWN_GPU_NAMES = (
    "RTX 3060", "RTX 3070", "RTX 3080", "RTX 3090", "RTX 4060 Ti", "RTX 4070", "RTX 4070 Ti",
    "RTX 4080", "RTX 4090", "RTX 5080", "RTX 5090", "RTX A4000", "RTX A5000", "RTX A6000",
    "RTX 6000Ada", "A10", "A40", "A100 PCIE", "A100 SXM4", "A100X", "H100 PCIE", "H100 SXM",
    "H100 NVL", "H200", "L4", "L40", "L40S", "Tesla T4", "Tesla V100", "B200",
)  # fmt: skip


def _squash(name: str) -> str:
    return "".join(ch for ch in name.upper() if ch.isalnum())


def gpu_name_hint(wanted: str, seen: Iterable[str] = ()) -> str:
    """' Did you mean ...?' for a GPU name that matched nothing, or ''."""
    candidates = {_squash(n): n for n in (*KNOWN_GPU_NAMES, *seen)}
    exact = candidates.get(_squash(wanted))  # only the spacing or the case differ
    close = (
        [_squash(exact)]
        if exact
        else difflib.get_close_matches(_squash(wanted), list(candidates), n=3, cutoff=0.6)
    )
    names = [candidates[c] for c in close if candidates[c] != wanted]
    if not names:
        return ""
    return " Did you mean " + " or ".join(repr(n) for n in names) + " (Vast's spelling)?"


def _order(spec_order: Sequence[str] | None) -> tuple[tuple[str, str], ...]:
    if not spec_order:
        return DEFAULT_ORDER
    result = []
    for item in spec_order:
        if item.endswith("-"):
            result.append((item[:-1], "desc"))
        else:
            result.append((item.rstrip("+"), "asc"))
    return tuple(result)


def price_cap(spec: VastInstanceSpec, global_cap: float | None) -> float | None:
    """The highest $/h this object may ever pay: the lower of its own cap and the operator's."""
    caps = [c for c in (spec.max_price_per_hour, global_cap) if c is not None]
    return min(caps) if caps else None


def direct_ports_needed(spec: VastInstanceSpec) -> int:
    """Host ports the instance needs from its machine: one per container port exposed directly
    (spec.ports, 22 for direct SSH, 8080 for direct Jupyter). A machine without enough direct
    ports runs the instance, but those ports are never reachable."""
    ports = set(spec.ports or [])
    if spec.direct_ssh:
        ports.add(22)
        if spec.runtype == "jupyter":
            ports.add(8080)
    return len(ports)


def build_query(
    spec: VastInstanceSpec,
    *,
    pinned_machine: int | None = None,
    exclude_machines: Iterable[int] = (),
    exclude_offers: Iterable[int] = (),
    global_cap: float | None = None,
    limit: int = 64,
) -> OfferQuery:
    """The `POST /bundles/` body for this spec (query or offerId form).

    Besides spec.offer, it asks for everything a rent of this spec would be refused or useless
    without: `disk_space >= spec.disk` (Vast refuses a disk larger than the offer's,
    "requested disk … exceeds the … GB this offer has") and enough direct ports for the ports
    the spec exposes (`direct_ports_needed`). `choose` re-checks both on our side.
    """
    query = OfferQuery().with_limit(limit)
    query = query.model_copy(update={"allocated_storage": float(spec.disk)})
    if spec.type == "interruptible":
        query = query.model_copy(update={"type": "bid"})
    query = query.where("disk_space", "gte", float(spec.disk))
    selector = spec.offer
    q = selector.query
    ports = max(direct_ports_needed(spec), (q.min_direct_ports or 0) if q is not None else 0)
    if ports:
        query = query.where("direct_port_count", "gte", ports)
    if selector.offer_id is not None:
        query = query.where("id", "eq", selector.offer_id)
        return query.ordered_by(*DEFAULT_ORDER)  # type: ignore[arg-type]
    assert q is not None  # the CRD's CEL rule guarantees one of the two
    if q.gpu_name:
        query = query.where("gpu_name", "eq", q.gpu_name)
    elif q.gpu_names:
        query = query.where("gpu_name", "in", list(q.gpu_names))
    query = query.where("num_gpus", "eq", q.num_gpus)
    if q.min_gpu_ram_gb is not None:
        query = query.where("gpu_ram", "gte", q.min_gpu_ram_gb * 1000.0)
    if q.min_reliability is not None:
        query = query.where("reliability", "gte", q.min_reliability)
    if not q.verified:
        query = query.without("verified")
    if q.geolocation:
        query = query.where("geolocation", "in", list(q.geolocation))
    if q.min_cuda_version is not None:
        query = query.where("cuda_max_good", "gte", q.min_cuda_version)
    if q.min_compute_cap is not None:
        query = query.where("compute_cap", "gte", q.min_compute_cap)
    if q.min_inet_down_mbps is not None:
        query = query.where("inet_down", "gte", q.min_inet_down_mbps)
    machine = pinned_machine if pinned_machine is not None else q.machine_id
    if machine is not None:
        query = query.where("machine_id", "eq", machine)
    excluded = sorted(set(exclude_machines))
    if excluded:
        query = query.where("machine_id", "notin", excluded)
    refused = sorted(set(exclude_offers))
    if refused:
        query = query.where("id", "notin", refused)
    cap = price_cap(spec, global_cap)
    if cap is not None and spec.type == "onDemand" and q.order:
        # With the default cheapest-first order the cap is applied on our side, so that "too
        # expensive" can be told apart from "nothing matches" without a second search.
        query = query.where("dph_total", "lte", cap)
    return query.ordered_by(*_order(q.order))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Choice:
    """The offers worth trying, best first, or why there are none."""

    offers: tuple[Offer, ...]
    reason: str | None = None  # NoMatchingOffer or PriceCapTooLow when offers is empty
    message: str = ""


HOURS_PER_MONTH = 30 * 24  # Vast prices storage in $/GB/month of 30 days


def storage_hourly(offer: Offer, disk: float) -> float | None:
    """What `disk` GB of this offer's storage cost per hour, or None when unknown."""
    if offer.storage_cost is not None:
        return offer.storage_cost * disk / HOURS_PER_MONTH
    if offer.dph_total is not None and offer.min_bid is not None:
        return max(0.0, offer.dph_total - offer.min_bid)  # bid searches price the GPU at min_bid
    return None


def hourly_cost(offer: Offer, spec: VastInstanceSpec) -> float | None:
    """What the rental will cost per hour, storage included: the bid plus storage for
    interruptibles, dph_total (which includes the allocated storage) otherwise."""
    if spec.type == "interruptible":
        storage = storage_hourly(offer, float(spec.disk))
        if spec.bid_per_hour is None or storage is None:
            return None
        return spec.bid_per_hour + storage
    return offer.dph_total


# Conditions build_query adds for what the spec needs rather than what spec.offer.query asks.
IMPLIED_FIELDS = ("disk_space", "direct_port_count")


def choose(
    offers: Sequence[Offer],
    spec: VastInstanceSpec,
    query: OfferQuery,
    *,
    exclude_machines: Iterable[int] = (),
    exclude_offers: Iterable[int] = (),
    global_cap: float | None = None,
) -> Choice:
    """Re-check every offer on our side (Vast may return non-matching rows) and rank them.

    Every condition of `query` is checked again, the disk and direct ports the spec needs
    last, so that the reason says which one rules out the offers that match spec.offer; offers
    Vast refused to rent to this object (`exclude_offers`) are never chosen again.
    """
    excluded = set(exclude_machines)
    refused = set(exclude_offers)
    cap = price_cap(spec, global_cap)
    matching = [o for o in offers if o.machine_id not in excluded and o.id not in refused]
    # Vast may ignore some filters; the price filter we apply ourselves below.
    searched = query.without("dph_total", *IMPLIED_FIELDS)
    matching = [o for o in matching if offer_matches(o, searched)]
    if not matching:
        return _no_match(offers, spec, excluded, refused)
    affordable = [o for o in matching if _affordable(o, spec, cap)]
    if not affordable:
        return _too_expensive(matching, spec, cap)
    implied = {k: v for k, v in query.conditions.items() if k in IMPLIED_FIELDS}
    needs = query.model_copy(update={"conditions": implied})
    fitting = [o for o in affordable if offer_matches(o, needs)]
    if not fitting:
        ports = needs.conditions.get("direct_port_count", {}).get("gte")
        largest = max((o.disk_space or 0.0 for o in affordable), default=0.0)
        return Choice(
            (),
            "NoMatchingOffer",
            f"{len(affordable)} offers match spec.offer within the price limit, but none has "
            f"spec.disk {spec.disk:g} GB of disk (the largest {largest:g} GB)"
            + (f" and {ports} direct ports" if ports else ""),
        )
    return Choice(tuple(fitting))


def _affordable(offer: Offer, spec: VastInstanceSpec, cap: float | None) -> bool:
    if spec.type == "interruptible":
        bid = spec.bid_per_hour or 0.0
        if offer.min_bid is not None and offer.min_bid > bid:
            return False
    price = hourly_cost(offer, spec)
    return price is not None and (cap is None or price <= cap)


def _no_match(
    offers: Sequence[Offer], spec: VastInstanceSpec, excluded: set[int], refused: set[int]
) -> Choice:
    what = (
        f"offer {spec.offer.offer_id} is not available"
        if spec.offer.offer_id is not None
        else "no offer on the market matches spec.offer.query"
    )
    if excluded:
        what += f" (excluding failed machines {sorted(excluded)})"
    if refused:
        what += f" (excluding offers Vast refused to rent: {sorted(refused)})"
    q = spec.offer.query
    names = [*(q.gpu_names or []), q.gpu_name or ""] if q is not None else []
    for name in names:
        if name and not any(o.gpu_name == name for o in offers):
            what += gpu_name_hint(name)
    return Choice((), "NoMatchingOffer", what)


def _too_expensive(matching: Sequence[Offer], spec: VastInstanceSpec, cap: float | None) -> Choice:
    if spec.type == "interruptible":
        cheapest = min((o.min_bid or 0.0 for o in matching), default=0.0)
        return Choice(
            (),
            "PriceCapTooLow",
            f"{len(matching)} matching offers, the lowest minimum bid ${cheapest:.3f}/h; "
            f"the bid is ${spec.bid_per_hour or 0:.3f}/h and the limit, storage included, "
            f"${(cap or 0):.3f}/h",
        )
    cheapest = min((o.dph_total or 0.0 for o in matching), default=0.0)
    return Choice(
        (),
        "PriceCapTooLow",
        f"{len(matching)} matching offers, the cheapest at ${cheapest:.3f}/h, "
        f"but the limit is ${(cap or 0):.3f}/h",
    )
