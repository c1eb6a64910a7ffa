"""Offer search and choice: caps, bids, excluded machines, pinned machines."""

from __future__ import annotations

from typing import Any

from vast_operator.api.instance import VastInstanceSpec
from vast_operator.reconcile import placement
from vast_operator.vast.models import Offer


def spec(**overrides: Any) -> VastInstanceSpec:
    data: dict[str, Any] = {
        "offer": {"query": {"gpuName": "RTX 4090", "numGpus": 1}},
        "image": "pytorch/pytorch:latest",
    }
    data.update(overrides)
    return VastInstanceSpec.model_validate(data)


def offer(id_: int, price: float, machine: int, **extra: Any) -> Offer:
    data = {
        "id": id_,
        "dph_total": price,
        "machine_id": machine,
        "gpu_name": "RTX 4090",
        "num_gpus": 1,
        "verified": True,
        "rentable": True,
        "rented": False,
        "external": False,
        "min_bid": price / 2,
    }
    data.update(extra)
    return Offer.model_validate(data)


def test_query_body_carries_gpu_count_storage_and_cheapest_first() -> None:
    body = placement.build_query(spec(disk=40)).to_body()
    assert body["gpu_name"] == {"eq": "RTX 4090"}
    assert body["num_gpus"] == {"eq": 1}
    assert body["allocated_storage"] == 40.0
    assert body["order"] == [["dph_total", "asc"]]
    assert body["verified"] == {"eq": True}


def test_query_excludes_failed_machines_and_pins_volume_machine() -> None:
    body = placement.build_query(spec(), pinned_machine=7, exclude_machines=[3, 2]).to_body()
    assert body["machine_id"] == {"eq": 7, "notin": [2, 3]}


def test_interruptible_searches_bids() -> None:
    s = spec(type="interruptible", bidPerHour=0.3)
    assert placement.build_query(s).to_body()["type"] == "bid"


def test_choose_keeps_only_offers_under_the_cap() -> None:
    s = spec(maxPricePerHour=0.5)
    q = placement.build_query(s)
    choice = placement.choose([offer(1, 0.4, 10), offer(2, 0.6, 11)], s, q)
    assert [o.id for o in choice.offers] == [1]


def test_price_cap_too_low_is_told_apart_from_no_match() -> None:
    s = spec(maxPricePerHour=0.1)
    q = placement.build_query(s)
    choice = placement.choose([offer(1, 0.4, 10)], s, q)
    assert choice.offers == ()
    assert choice.reason == "PriceCapTooLow"
    assert "0.400" in choice.message
    none = placement.choose([], s, q)
    assert none.reason == "NoMatchingOffer"


def test_global_cap_wins_when_lower() -> None:
    s = spec(maxPricePerHour=1.0)
    q = placement.build_query(s, global_cap=0.3)
    choice = placement.choose([offer(1, 0.4, 10), offer(2, 0.2, 12)], s, q, global_cap=0.3)
    assert [o.id for o in choice.offers] == [2]


def test_failed_machines_are_never_chosen() -> None:
    s = spec()
    q = placement.build_query(s, exclude_machines=[10])
    choice = placement.choose([offer(1, 0.4, 10), offer(2, 0.5, 11)], s, q, exclude_machines=[10])
    assert [o.id for o in choice.offers] == [2]


def test_offers_that_do_not_match_are_rechecked_on_our_side() -> None:
    s = spec()
    q = placement.build_query(s)
    wrong = offer(1, 0.1, 10, gpu_name="RTX 3090")
    choice = placement.choose([wrong, offer(2, 0.4, 11)], s, q)
    assert [o.id for o in choice.offers] == [2]


def test_bid_below_minimum_is_not_placed() -> None:
    s = spec(type="interruptible", bidPerHour=0.1)
    q = placement.build_query(s)
    choice = placement.choose([offer(1, 0.4, 10)], s, q)  # min_bid 0.2 > 0.1
    assert choice.offers == ()
    assert choice.reason == "PriceCapTooLow"
