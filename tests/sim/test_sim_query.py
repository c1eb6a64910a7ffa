"""Search query evaluation: operators, coercion of string numbers, ordering, limits, type."""

from __future__ import annotations

from typing import Any

import pytest

from vast_sim.errors import VastError
from vast_sim.query import (
    QueryError,
    compile_offer_filters,
    filter_rows,
    parse_cli_query,
    parse_offer_order,
    sort_rows,
)
from vast_sim.world import World

ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "gpu_name": "RTX 4090",
        "num_gpus": 1,
        "dph_total": 0.4,
        "verification": "verified",
        "rentable": True,
        "geolocation": "Washington, US",
        "driver_vers": 550127005,
        "hosting_type": 0,
        "os_version": "22.04",
    },
    {
        "id": 2,
        "gpu_name": "RTX 3090",
        "num_gpus": 2,
        "dph_total": 0.3,
        "verification": "unverified",
        "rentable": True,
        "geolocation": "Bavaria, DE",
        "driver_vers": 535183001,
        "hosting_type": 1,
        "os_version": "20.04",
    },
    {
        "id": 3,
        "gpu_name": "H100 SXM",
        "num_gpus": 8,
        "dph_total": 19.5,
        "verification": "verified",
        "rentable": True,
        "geolocation": "Quebec, CA",
        "driver_vers": 570124006,
        "hosting_type": 1,
        "os_version": "22.04",
    },
]


def ids(query: dict[str, Any]) -> list[int]:
    return [row["id"] for row in filter_rows(ROWS, compile_offer_filters(query))]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"num_gpus": {"eq": "2"}}, [2]),
        ({"num_gpus": {"neq": 2}}, [1, 3]),
        ({"num_gpus": {"gt": "1"}}, [2, 3]),
        ({"num_gpus": {"gte": "2", "lt": "8"}}, [2]),
        ({"dph_total": {"lte": "0.4"}}, [1, 2]),
        ({"dph_total": {"lt": 2}}, [1, 2]),
        ({"gpu_name": {"in": ["RTX 4090", "H100 SXM"]}}, [1, 3]),
        ({"gpu_name": {"notin": ["RTX 4090"]}}, [2, 3]),
        ({"gpu_name": {"nin": ["RTX 4090"]}}, [2, 3]),
        ({"gpu_name": "RTX 3090"}, [2]),
        ({"rentable": {"eq": "true"}}, [1, 2, 3]),
        ({"rentable": {"eq": False}}, []),
        ({"verified": {"eq": True}}, [1, 3]),
        ({"datacenter": {"eq": True}}, [2, 3]),
        ({"ubuntu_version": {"eq": "22.04"}}, [1, 3]),
        ({"geolocation": {"in": ["US", "CA"]}}, [1, 3]),
        ({"geolocation": {"notin": ["US"]}}, [2, 3]),
        ({"geolocation": {"eq": "Bavaria, DE"}}, [2]),
        ({"driver_version": {"gte": "550.127.05"}}, [1, 3]),
        ({"driver_version": {"gte": 550000000}}, [1, 3]),
        ({"cuda_vers": {"gte": "12.0"}}, [1, 2, 3]),  # unknown to these rows: ignored
        ({"num_gpus": {"gte": "not-a-number"}}, []),
    ],
)
def test_filters(query: dict[str, Any], expected: list[int]) -> None:
    assert ids(query) == expected


def test_directives_are_not_filters() -> None:
    query = {"order": [["dph_total", "asc"]], "type": "bid", "limit": 1, "allocated_storage": 5}
    assert ids(query) == [1, 2, 3]


def test_unknown_operator_is_refused() -> None:
    with pytest.raises(QueryError):
        compile_offer_filters({"num_gpus": {"between": [1, 2]}})


def test_ordering_with_directions_aliases_and_missing_values() -> None:
    rows = [*ROWS, {"id": 4, "dph_total": None, "num_gpus": 8}]
    by_price = sort_rows(rows, parse_offer_order([["dph", "asc"]]))
    assert [r["id"] for r in by_price] == [2, 1, 3, 4]
    multi = sort_rows(rows, parse_offer_order([["num_gpus", "desc"], ["dph_total", "desc"]]))
    assert [r["id"] for r in multi] == [3, 4, 2, 1]
    assert parse_offer_order(None, [["score", "desc"]]) == [("score", True)]
    assert parse_offer_order(["num_gpus", "desc"]) == [("num_gpus", True)]


def test_cli_query_string_syntax_matches_the_vastai_parser() -> None:
    parsed = parse_cli_query(
        "gpu_name=RTX_4090 num_gpus>=2 geolocation in [US,CA] gpu_ram>=24 "
        "driver_version>=535.86.05 verified=True rented=False cuda_vers>=12.1 reliability=any"
    )
    assert parsed == {
        "gpu_name": {"eq": "RTX 4090"},
        "num_gpus": {"gte": "2"},
        "geolocation": {"in": ["US", "CA"]},
        "gpu_ram": {"gte": 24000.0},
        "driver_version": {"gte": 535086005},
        "verified": {"eq": True},
        "rented": {"eq": False},
        "cuda_max_good": {"gte": "12.1"},
    }
    with pytest.raises(QueryError):
        parse_cli_query("num_gpus >>> 2 ???")


def test_search_consumes_the_cli_query_object(world: World) -> None:
    query = {
        "verified": {"eq": True},
        "external": {"eq": False},
        "rentable": {"eq": True},
        "gpu_name": {"eq": "RTX 4090"},
        "num_gpus": {"gte": "1"},
        "dph_total": {"lt": "2"},
        "order": [["dph_total", "asc"]],
        "type": "on-demand",
        "allocated_storage": 5.0,
    }
    offers = world.search_offers(query)
    assert offers, "the seeded market has RTX 4090 offers"
    assert all(o["gpu_name"] == "RTX 4090" and o["verification"] == "verified" for o in offers)
    assert all(o["num_gpus"] >= 1 and o["dph_total"] < 2 for o in offers)
    prices = [o["dph_total"] for o in offers]
    assert prices == sorted(prices)


def test_default_order_is_score_descending_and_limit_applies(world: World) -> None:
    offers = world.search_offers({"limit": "7"})
    assert len(offers) == 7
    scores = [o["score"] for o in offers]
    assert scores == sorted(scores, reverse=True)
    assert len(world.search_offers({})) == 64  # server-side default page of offers


def test_allocated_storage_is_priced_into_dph_total(world: World) -> None:
    base = world.search_offers({"order": [["id", "asc"]], "limit": 1, "allocated_storage": 0})[0]
    big = world.search_offers({"order": [["id", "asc"]], "limit": 1, "allocated_storage": 720})[0]
    assert base["id"] == big["id"]
    # storage_cost is $/GB/month: 720 GB for one hour costs storage_cost (30 * 24 h a month).
    assert big["dph_total"] == pytest.approx(base["dph_total"] + base["storage_cost"], abs=1e-5)
    assert base["dph_total"] == pytest.approx(base["dph_base"], abs=1e-6)


def test_bid_and_reserved_pricing(world: World) -> None:
    pick = {"order": [["id", "asc"]], "limit": 1, "allocated_storage": 0}
    on_demand = world.search_offers({**pick, "type": "on-demand"})[0]
    bid = world.search_offers({**pick, "type": "interruptible"})[0]
    reserved = world.search_offers({**pick, "type": "reserved"})[0]
    assert bid["dph_total"] == pytest.approx(on_demand["min_bid"])
    assert bid["is_bid"] is True and on_demand["is_bid"] is False
    assert reserved["discounted_dph_total"] < on_demand["dph_total"]


def test_bad_queries_are_400(world: World) -> None:
    for query in ([1, 2], {"type": "cheap"}, {"limit": "lots"}, {"order": 5}):
        with pytest.raises(VastError) as err:
            world.search_offers(query)
        assert err.value.status == 400


def test_market_is_deterministic_per_seed(world: World) -> None:
    from vast_sim.config import SimConfig

    again = World(SimConfig(num_machines=len(world.machines)), world._clock)
    other = World(SimConfig(num_machines=len(world.machines), seed=99), world._clock)
    first = [(o["id"], o["machine_id"], o["dph_base"]) for o in world.search_offers({})]
    assert first == [(o["id"], o["machine_id"], o["dph_base"]) for o in again.search_offers({})]
    assert first != [(o["id"], o["machine_id"], o["dph_base"]) for o in other.search_offers({})]


def test_offers_have_the_documented_fields(world: World) -> None:
    offer = world.search_offers({"limit": 1})[0]
    documented = (
        "id ask_contract_id bundle_id machine_id host_id num_gpus gpu_name gpu_ram gpu_total_ram "
        "compute_cap cuda_max_good driver_version direct_port_count inet_down inet_up "
        "geolocation reliability verification disk_space storage_cost dph_base dph_total "
        "min_bid score rentable rented duration end_date dlperf total_flops cpu_ram"
    )
    for name in documented.split(" "):
        assert name in offer, name
    assert offer["gpu_ram"] > 1000  # MB
    assert 0.9 <= offer["reliability"] <= 0.999
    assert offer["geolocation"][-4:-2] == ", "
