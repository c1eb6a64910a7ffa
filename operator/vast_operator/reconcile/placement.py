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


def build_query(
    spec: VastInstanceSpec,
    *,
    pinned_machine: int | None = None,
    exclude_machines: Iterable[int] = (),
    global_cap: float | None = None,
    limit: int = 64,
) -> OfferQuery:
    """The `POST /bundles/` body for this spec (query or offerId form)."""
    query = OfferQuery().with_limit(limit)
    query = query.model_copy(update={"allocated_storage": float(spec.disk)})
    if spec.type == "interruptible":
        query = query.model_copy(update={"type": "bid"})
    selector = spec.offer
    if selector.offer_id is not None:
        query = query.where("id", "eq", selector.offer_id)
        return query.ordered_by(*DEFAULT_ORDER)  # type: ignore[arg-type]
    q = selector.query
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
    if q.min_direct_ports is not None:
        query = query.where("direct_port_count", "gte", q.min_direct_ports)
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


def choose(
    offers: Sequence[Offer],
    spec: VastInstanceSpec,
    query: OfferQuery,
    *,
    exclude_machines: Iterable[int] = (),
    global_cap: float | None = None,
) -> Choice:
    """Re-check every offer on our side (Vast may return non-matching rows) and rank them."""
    excluded = set(exclude_machines)
    cap = price_cap(spec, global_cap)
    matching = [o for o in offers if o.machine_id not in excluded]
    # Vast may ignore some filters; the price filter we apply ourselves below.
    matching = [o for o in matching if offer_matches(o, query.without("dph_total"))]
    if not matching:
        what = (
            f"offer {spec.offer.offer_id} is not available"
            if spec.offer.offer_id is not None
            else "no offer on the market matches spec.offer.query"
        )
        if excluded:
            what += f" (excluding failed machines {sorted(excluded)})"
        q = spec.offer.query
        names = [*(q.gpu_names or []), q.gpu_name or ""] if q is not None else []
        for name in names:
            if name and not any(o.gpu_name == name for o in offers):
                what += gpu_name_hint(name)
        return Choice((), "NoMatchingOffer", what)
    affordable: list[Offer] = []
    for offer in matching:
        if spec.type == "interruptible":
            bid = spec.bid_per_hour or 0.0
            if offer.min_bid is not None and offer.min_bid > bid:
                continue
        price = hourly_cost(offer, spec)
        if price is None or (cap is not None and price > cap):
            continue
        affordable.append(offer)
    if not affordable:
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
    return Choice(tuple(affordable))
