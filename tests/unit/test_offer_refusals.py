"""Placement asks Vast for every constraint the spec implies, and an offer Vast refuses for a
reason of its own is skipped (and remembered) instead of being rented again and again.

The refusals are the simulator's own answers (its rent validation, read through the client's
error classification), so the rule is tested against the wording Vast uses.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fakes import Harness, obj, offer

from vast_operator.api.instance import VastInstanceSpec, VastInstanceStatus
from vast_operator.reconcile import placement
from vast_operator.reconcile.instance import InstanceAdapter
from vast_operator.reconcile.instance.rules import (
    MAX_REFUSED_OFFERS,
    offer_refusal,
    refuse_offer,
)
from vast_operator.vast import errors as verr
from vast_operator.vast.models import Offer
from vast_sim.errors import VastError as SimError
from vast_sim.world.rent_request import instance_spec

RENT_ROUTE = "PUT /api/v0/asks/{id}/"
FIRST = 1000  # FakeVast numbers what it creates from 1000


def sim_refusal(body: dict[str, Any], **offer_fields: Any) -> verr.VastError:
    """What the client raises for the simulator's answer to this rent body."""
    static = {"disk_space": 125.0, "min_bid": 0.2, **offer_fields}
    with pytest.raises(SimError) as caught:
        instance_spec(7, {"image": "x", "disk": 16, **body}, static, {})
    answer = caught.value
    return verr.classify_response(answer.status, json.dumps(answer.body), route=RENT_ROUTE)


DISK_REFUSAL = {"disk": 200}
BID_REFUSAL = {"price": 0.1}


def spec(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "offer": {"query": {"gpuName": "RTX 4090"}},
        "maxPricePerHour": 1.0,
        "image": "pytorch/pytorch",
        "disk": 200,
    }
    base.update(fields)
    return base


def model(**fields: Any) -> VastInstanceSpec:
    return VastInstanceSpec.model_validate(spec(**fields))


def sized(offer_id: int, machine: int, disk: float, price: float = 0.3, **fields: Any) -> Offer:
    return offer(offer_id, machine=machine, price=price).model_copy(
        update={"disk_space": disk, **fields}
    )


@pytest.fixture
async def h() -> Any:
    harness = Harness(adapter=InstanceAdapter(), plural="vastinstances")
    harness.vast.offers = [offer(1, machine=11), offer(2, machine=12)]
    yield harness
    await harness.stop()


# --- the search asks for what the rent needs ------------------------------------------------


def test_the_search_asks_for_at_least_the_disk_of_the_spec() -> None:
    body = placement.build_query(model(disk=200)).to_body()
    assert body["disk_space"] == {"gte": 200.0}
    pinned = placement.build_query(model(offer={"offerId": 5}, disk=200)).to_body()
    assert pinned["disk_space"] == {"gte": 200.0} and pinned["id"] == {"eq": 5}


def test_the_search_asks_for_a_direct_port_per_port_exposed_directly() -> None:
    assert "direct_port_count" not in placement.build_query(model()).to_body()
    direct = model(runtype="jupyter", directSsh=True, ports=[8080, 9000])
    # 22 for SSH, 8080 for Jupyter (also in spec.ports), 9000
    assert placement.build_query(direct).to_body()["direct_port_count"] == {"gte": 3}
    ssh = model(directSsh=True)
    assert placement.build_query(ssh).to_body()["direct_port_count"] == {"gte": 1}
    asked = model(ports=[9000], offer={"query": {"gpuName": "RTX 4090", "minDirectPorts": 20}})
    assert placement.build_query(asked).to_body()["direct_port_count"] == {"gte": 20}


def test_the_search_leaves_out_offers_vast_refused() -> None:
    body = placement.build_query(model(), exclude_offers=[9, 3]).to_body()
    assert body["id"] == {"notin": [3, 9]}


def test_choose_rechecks_the_disk_when_vast_returns_offers_too_small() -> None:
    s = model(disk=200)
    query = placement.build_query(s)
    small, big = sized(1, 11, 125.0, price=0.2), sized(2, 12, 500.0, price=0.4)
    assert [o.id for o in placement.choose([small, big], s, query).offers] == [2]
    none = placement.choose([small], s, query)
    assert none.offers == () and none.reason == "NoMatchingOffer"
    assert "spec.disk 200 GB" in none.message and "125 GB" in none.message


def test_choose_rechecks_the_direct_ports() -> None:
    s = model(disk=20, directSsh=True, ports=[8000])
    query = placement.build_query(s)
    closed = sized(1, 11, 500.0, price=0.2, direct_port_count=0)
    one = sized(2, 12, 500.0, price=0.25, direct_port_count=1)
    open_ = sized(3, 13, 500.0, price=0.3, direct_port_count=50)
    assert [o.id for o in placement.choose([closed, one, open_], s, query).offers] == [3]


def test_choose_never_picks_a_refused_offer_and_says_so() -> None:
    s = model(disk=20)
    query = placement.build_query(s)
    offers = [sized(1, 11, 500.0), sized(2, 12, 500.0)]
    assert [o.id for o in placement.choose(offers, s, query, exclude_offers=[1]).offers] == [2]
    none = placement.choose(offers, s, query, exclude_offers=[1, 2])
    assert none.reason == "NoMatchingOffer"
    assert "excluding offers Vast refused to rent: [1, 2]" in none.message


# --- which refusals are the offer's ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "offer_fields", "theirs"),
    [
        (DISK_REFUSAL, {}, True),
        (BID_REFUSAL, {}, True),
        ({"runtype": "nonsense"}, {}, False),
        ({"image": ""}, {}, False),
        ({"disk": 2}, {}, False),
        ({"onstart": "x" * 5000}, {}, False),
        ({"template_hash_id": "nope"}, {}, False),
    ],
    ids=["disk", "bid", "runtype", "no-image", "disk-too-small", "onstart", "no-template"],
)
def test_a_refusal_is_the_offers_only_when_vast_names_a_limit_of_the_offer(
    body: dict[str, Any], offer_fields: dict[str, Any], theirs: bool
) -> None:
    assert offer_refusal(sim_refusal(body, **offer_fields)) is theirs


def test_other_vast_answers_are_never_blamed_on_the_offer() -> None:
    for exc in (
        verr.InsufficientCreditError("Insufficient credit", status=402, route=RENT_ROUTE),
        verr.TransientError("this offer: 502", status=502, route=RENT_ROUTE),
        verr.RateLimitedError("too frequent", status=429, route=RENT_ROUTE),
        verr.AuthenticationError("bad key", status=401, route=RENT_ROUTE),
    ):
        assert not offer_refusal(exc), exc
    hosts_only = verr.classify_response(
        403,
        json.dumps(
            {
                "error": "invalid_args",
                "msg": "error 403/3586: Offer 7 is not your own. Hosts can only rent their own "
                "machines.",
            }
        ),
        route=RENT_ROUTE,
    )
    assert offer_refusal(hosts_only)


def test_refused_offers_are_bounded_and_keep_the_latest() -> None:
    status = VastInstanceStatus()
    for offer_id in range(1, MAX_REFUSED_OFFERS + 10):
        refuse_offer(status, offer_id)
    refuse_offer(status, 20)
    assert status.refused_offers is not None
    assert len(status.refused_offers) == MAX_REFUSED_OFFERS
    assert status.refused_offers[-1] == 20 and 1 not in status.refused_offers


# --- through the loop -----------------------------------------------------------------------


async def test_an_offer_refused_for_its_disk_is_skipped_for_the_next_in_the_same_pass(
    h: Harness,
) -> None:
    h.vast.fail_offer[1] = sim_refusal(DISK_REFUSAL)
    h.add(obj(spec=spec()))
    await h.reconcile()
    assert h.vast.args("create_instance") == [1, 2]
    status = h.status()
    assert status["instanceId"] == FIRST and status["offerId"] == 2
    assert status["refusedOffers"] == [1]
    assert status["phase"] == "Loading"
    assert "OfferRefused" in h.events.reasons()
    assert h.vast.args("search_offers")[0].to_body()["disk_space"] == {"gte": 200.0}


async def test_when_every_offer_is_refused_the_object_searches_without_them_not_creating(
    h: Harness,
) -> None:
    h.vast.fail_offer[1] = sim_refusal(DISK_REFUSAL)
    h.vast.fail_offer[2] = sim_refusal(BID_REFUSAL)
    h.add(obj(spec=spec()))
    await h.reconcile()
    status = h.status()
    assert status["phase"] == "Searching"
    assert "creatingSince" not in status
    assert status["refusedOffers"] == [1, 2]
    ready = h.condition("Ready")
    assert ready["status"] == "False" and ready["reason"] == "VastRejected"
    assert (
        "offer 1: " in ready["message"] and "exceeds the 125 GB this offer has" in ready["message"]
    )
    assert "offer 2: " in ready["message"] and "minimum bid" in ready["message"]

    # The next pass does not rent them again: the search leaves them out, and so does choose.
    h.clock.advance(5)
    await h.reconcile()
    assert h.vast.count("create_instance") == 2
    assert h.vast.args("search_offers")[-1].to_body()["id"] == {"notin": [1, 2]}
    assert h.status()["phase"] == "Searching"
    assert h.condition("Ready")["reason"] == "NoMatchingOffer"
    assert "excluding offers Vast refused" in h.condition("Ready")["message"]

    # A new offer on the market is rented.
    h.vast.offers.append(offer(3, machine=13))
    h.clock.advance(5)
    await h.reconcile()
    assert h.vast.args("create_instance") == [1, 2, 3]
    assert h.status()["instanceId"] == FIRST


async def test_a_refusal_of_the_request_itself_is_not_blamed_on_the_offer(h: Harness) -> None:
    h.vast.fail["create_instance"] = sim_refusal({"runtype": "nonsense"})
    h.add(obj(spec=spec()))
    await h.reconcile()
    assert h.vast.args("create_instance") == [1]  # every offer would refuse it: no second rent
    status = h.status()
    assert "refusedOffers" not in status
    assert status["phase"] == "Searching" and "creatingSince" not in status
    assert h.condition("Synced")["reason"] == "VastRejected"
    assert "unknown runtype" in h.condition("Ready")["message"]


async def test_a_spec_change_gives_refused_offers_another_chance(h: Harness) -> None:
    h.vast.offers = [offer(1, machine=11)]
    h.vast.fail_offer[1] = sim_refusal(DISK_REFUSAL)
    h.add(obj(spec=spec()))
    await h.reconcile()
    assert h.status()["refusedOffers"] == [1]
    del h.vast.fail_offer[1]
    h.next_generation(maxPricePerHour=0.9)
    h.clock.advance(5)
    await h.reconcile()
    assert h.vast.args("create_instance") == [1, 1]
    assert "refusedOffers" not in h.status()
    assert h.status()["instanceId"] == FIRST
